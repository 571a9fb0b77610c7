import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint as Node's getPeerCertificate() gives it (`AB:CD:…`). */
  fingerprint256: string;
}

/**
 * Certificates made with the `openssl` CLI for one test file, in a temp
 * directory: CAs, server certificates for 127.0.0.1 and localhost, device
 * certificates with a CN. EC P-256 keys, so each takes milliseconds.
 */
export class TestCertificates {
  readonly dir = mkdtempSync(join(tmpdir(), 'dhb-certs-'));
  private serial = 1;

  /** A self-signed CA. */
  ca(name: string): Issued {
    const certFile = join(this.dir, `${name}.crt`);
    const keyFile = this.key(name);
    this.openssl(['req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`]);
    return this.issued(certFile, keyFile);
  }

  /** A server certificate for 127.0.0.1 and localhost, signed by `ca`. */
  server(name: string, ca: Issued): Issued {
    return this.sign(name, 'localhost', ca, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  }

  /** A device's client certificate with `commonName` (`{type}/{id}`), signed by `ca`. */
  client(name: string, commonName: string, ca: Issued): Issued {
    return this.sign(name, commonName, ca, 'extendedKeyUsage=clientAuth\n');
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private sign(name: string, commonName: string, ca: Issued, extensions: string): Issued {
    const keyFile = this.key(name);
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    const certFile = join(this.dir, `${name}.crt`);
    writeFileSync(ext, extensions);
    this.openssl(['req', '-new', '-key', keyFile, '-out', csr, '-subj', `/CN=${commonName.replace(/\//g, '\\/')}`]);
    this.openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-set_serial',
      String(this.serial++),
      '-extfile',
      ext,
    ]);
    return this.issued(certFile, keyFile);
  }

  private key(name: string): string {
    const keyFile = join(this.dir, `${name}.key`);
    this.openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
    return keyFile;
  }

  private issued(certFile: string, keyFile: string): Issued {
    return { certFile, keyFile, fingerprint256: new X509Certificate(readFileSync(certFile)).fingerprint256 };
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

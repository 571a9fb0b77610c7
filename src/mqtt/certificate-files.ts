import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { createSecureContext } from 'node:tls';
import type { BrokerTlsConfig } from '../config/app-config';

/**
 * How often the files are looked at. `stat` by path follows an atomic rename
 * (certbot, `mv new.pem cert.pem`) and a Kubernetes secret's symlink swap,
 * where fs.watch would keep watching the old inode; and comparing with the
 * stat taken at the last read, not with the previous poll, misses no change
 * made between that read and the first poll. @default 1000 ms
 */
const POLL_MS = 1000;
/** Quiet time after a change before reading, so a key written just after its certificate is read with it. */
const SETTLE_MS = 300;

export interface LoadedCertificate {
  options: SecureContextOptions;
  /** For the log: `serial …, SHA-256 …, valid until …`. */
  summary: string;
}

/**
 * The TLS listener's certificate, key and CA files (issue #13), read at start
 * and again whenever one of them changes, so certificates rotate without a
 * restart. A change that does not make a usable set (half-written, a key of
 * another certificate, not PEM) is reported once and the previous set is kept.
 */
export class CertificateFiles {
  private readonly paths: string[];
  /** The files' stats when they were last read. */
  private readStats = '';
  private poll: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;

  constructor(private readonly config: BrokerTlsConfig) {
    this.paths = [config.certFile, config.keyFile, ...(config.caFile === undefined ? [] : [config.caFile])];
  }

  /** Reads and checks the files; throws with the reason when they are not a usable set. */
  load(): LoadedCertificate {
    // Taken first: a file written while it is read is read again at the next poll.
    this.readStats = this.stats();
    const options: SecureContextOptions = {
      cert: readFileSync(this.config.certFile),
      key: readFileSync(this.config.keyFile),
      ca: this.config.caFile === undefined ? undefined : readFileSync(this.config.caFile),
    };
    createSecureContext(options);
    const x509 = new X509Certificate(options.cert as Buffer);
    return {
      options,
      summary: `serial ${x509.serialNumber}, SHA-256 ${x509.fingerprint256}, valid until ${x509.validTo}`,
    };
  }

  /** Calls `changed` with each new usable set, `failed` with each change that is not one. */
  watch(changed: (loaded: LoadedCertificate) => void, failed: (error: Error) => void): void {
    this.poll = setInterval(() => {
      if (this.stats() === this.readStats) return;
      clearTimeout(this.settle);
      this.settle = setTimeout(() => {
        let loaded: LoadedCertificate;
        try {
          loaded = this.load();
        } catch (err) {
          failed(err as Error);
          return;
        }
        changed(loaded);
      }, SETTLE_MS);
    }, POLL_MS);
    this.poll.unref();
  }

  close(): void {
    clearInterval(this.poll);
    clearTimeout(this.settle);
  }

  private stats(): string {
    return this.paths
      .map((path) => {
        try {
          const s = statSync(path, { bigint: true });
          return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }
}

import { X509Certificate } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { createSecureContext } from 'node:tls';
import type { BrokerTlsConfig } from '../config/app-config';

/**
 * How often the files are looked at. fs.watchFile polls `stat`, which follows
 * the file's path: it sees an atomic rename (certbot, `mv new.pem cert.pem`)
 * and a Kubernetes secret's symlink swap, where fs.watch keeps watching the
 * old inode. @default 1000 ms
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
 * another certificate, not PEM) is reported and the previous set is kept.
 */
export class CertificateFiles {
  private readonly paths: string[];
  private settle: NodeJS.Timeout | undefined;
  private listener: ((current: Stats, previous: Stats) => void) | undefined;

  constructor(private readonly config: BrokerTlsConfig) {
    this.paths = [config.certFile, config.keyFile, ...(config.caFile === undefined ? [] : [config.caFile])];
  }

  /** Reads and checks the files; throws with the reason when they are not a usable set. */
  load(): LoadedCertificate {
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
    const listener = (current: Stats, previous: Stats): void => {
      // watchFile also reports a read (atime): only a new content or a new file counts.
      if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size)
        return;
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
    };
    this.listener = listener;
    for (const path of this.paths) watchFile(path, { interval: POLL_MS, persistent: false }, listener);
  }

  close(): void {
    clearTimeout(this.settle);
    const listener = this.listener;
    this.listener = undefined;
    // This listener only: another app in the process may watch the same files.
    if (listener) for (const path of this.paths) unwatchFile(path, listener);
  }
}

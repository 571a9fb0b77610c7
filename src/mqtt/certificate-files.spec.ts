import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCertificates } from '../../test/support/certificates';
import type { LoadedCertificate } from './certificate-files';
import { CertificateFiles } from './certificate-files';

async function until<T>(check: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The TLS listener's files, read again when they change (issue #13). */
describe('CertificateFiles', () => {
  const certs = new TestCertificates();
  const ca = certs.ca('ca');
  const first = certs.server('first', ca);
  const second = certs.server('second', ca);
  const live = { certFile: join(certs.dir, 'live.crt'), keyFile: join(certs.dir, 'live.key') };
  let files: CertificateFiles;
  afterEach(() => files.close());
  afterAll(() => certs.dispose());

  it('reports a change that is not a usable certificate and key, then takes the next good one', async () => {
    copyFileSync(first.certFile, live.certFile);
    copyFileSync(first.keyFile, live.keyFile);
    files = new CertificateFiles({ port: 0, ...live, clientCerts: 'off' });
    expect(files.load().summary).toContain(`SHA-256 ${first.fingerprint256}`);
    const changed: LoadedCertificate[] = [];
    const failed: Error[] = [];
    files.watch(
      (loaded) => changed.push(loaded),
      (err) => failed.push(err),
    );

    // A certificate without its key: the key still on disk is the first certificate's.
    copyFileSync(second.certFile, live.certFile);
    expect((await until(() => failed[0], 'the error')).message).toMatch(/key values mismatch/);
    expect(changed).toEqual([]);

    copyFileSync(second.keyFile, live.keyFile);
    const loaded = await until(() => changed[0], 'the new certificate');
    expect(loaded.summary).toContain(`SHA-256 ${second.fingerprint256}`);

    writeFileSync(live.certFile, 'not a certificate\n');
    await until(() => failed[1], 'the second error');
    expect(changed).toHaveLength(1);
  });
});

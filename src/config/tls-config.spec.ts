import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCertificates } from '../../test/support/certificates';
import type { Env } from './load-config';
import { ConfigError, loadConfig } from './load-config';

/** TLS settings (issue #13): the embedded broker's listener and the external broker's client options. */
describe('TLS configuration', () => {
  const certs = new TestCertificates();
  const ca = certs.ca('ca');
  const server = certs.server('server', ca);
  const other = certs.server('other', ca);
  const load = (env: Env): ReturnType<typeof loadConfig> =>
    loadConfig({ DATA_DIR: mkdtempSync(join(tmpdir(), 'dhb-tls-config-')), ...env });
  const problems = (env: Env): string[] => {
    try {
      load(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    throw new Error('the configuration was accepted');
  };
  afterAll(() => certs.dispose());

  it('has no TLS listener unless MQTT_TLS_PORT is set', () => {
    expect(load({}).mqtt.tls).toBeUndefined();
    expect(load({}).mqtt.externalTls).toBeUndefined();
  });

  it('reads the listener, client certificates optional once a CA is given', () => {
    const files = { MQTT_TLS_CERT: server.certFile, MQTT_TLS_KEY: server.keyFile };
    expect(load({ MQTT_TLS_PORT: '8883', ...files }).mqtt.tls).toEqual({
      port: 8883,
      certFile: server.certFile,
      keyFile: server.keyFile,
      caFile: undefined,
      clientCerts: 'off',
    });
    expect(load({ MQTT_TLS_PORT: '0', MQTT_TLS_CA: ca.certFile, ...files }).mqtt.tls).toMatchObject({
      port: 0,
      caFile: ca.certFile,
      clientCerts: 'optional',
    });
    expect(
      load({ MQTT_TLS_PORT: '0', MQTT_TLS_CA: ca.certFile, MQTT_TLS_CLIENT_CERTS: 'required', ...files }).mqtt.tls
        ?.clientCerts,
    ).toBe('required');
  });

  it('names what is missing or unusable, every problem at once', () => {
    expect(problems({ MQTT_TLS_PORT: '8883' })).toEqual([
      'MQTT_TLS_PORT=8883: needs MQTT_TLS_CERT and MQTT_TLS_KEY, the PEM files of the server certificate and its key',
    ]);
    expect(problems({ MQTT_TLS_PORT: '8883', MQTT_TLS_CERT: server.certFile })).toEqual([
      `MQTT_TLS_CERT=${server.certFile}: needs MQTT_TLS_KEY, the PEM private key of that certificate`,
    ]);
    expect(problems({ MQTT_TLS_CERT: server.certFile, MQTT_TLS_KEY: server.keyFile })).toEqual([
      'MQTT_TLS_CERT, MQTT_TLS_KEY: need MQTT_TLS_PORT, the port of the TLS listener (8883 by convention, 0 picks a free one)',
    ]);
    const missing = join(certs.dir, 'missing.crt');
    expect(problems({ MQTT_TLS_PORT: '8883', MQTT_TLS_CERT: missing, MQTT_TLS_KEY: server.keyFile })).toEqual([
      expect.stringMatching(new RegExp(`^MQTT_TLS_CERT=${missing}: cannot read it \\(ENOENT`)),
    ]);
    expect(
      problems({
        MQTT_TLS_PORT: '8883',
        MQTT_TLS_CERT: server.certFile,
        MQTT_TLS_KEY: other.keyFile,
        MQTT_TLS_CLIENT_CERTS: 'required',
      }),
    ).toEqual([
      'MQTT_TLS_CLIENT_CERTS=required: needs MQTT_TLS_CA, the PEM CA that signs device certificates',
      expect.stringMatching(
        /^MQTT_TLS_CERT=.*, MQTT_TLS_KEY=.*: not a usable PEM certificate, key and CA \(.*key values mismatch/,
      ),
    ]);
  });

  it('refuses a file that is not PEM', () => {
    const garbage = join(certs.dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    expect(problems({ MQTT_TLS_PORT: '8883', MQTT_TLS_CERT: garbage, MQTT_TLS_KEY: server.keyFile })).toEqual([
      expect.stringMatching(/^MQTT_TLS_CERT=.*garbage\.pem, MQTT_TLS_KEY=.*: not a usable PEM certificate/),
    ]);
  });

  it('refuses the listener settings with an external broker, and the external ones without', () => {
    expect(problems({ MQTT_URL: 'mqtts://broker:8883', MQTT_TLS_PORT: '8883', MQTT_CA_FILE: ca.certFile })).toEqual([
      expect.stringMatching(/^MQTT_TLS_PORT: configure the embedded broker's TLS listener/),
    ]);
    expect(problems({ MQTT_CA_FILE: ca.certFile })).toEqual([
      expect.stringMatching(/^MQTT_CA_FILE: apply to an external broker at an mqtts:\/\/ or wss:\/\/ MQTT_URL/),
    ]);
    expect(problems({ MQTT_URL: 'mqtt://broker:1883', MQTT_REJECT_UNAUTHORIZED: 'false' })).toEqual([
      'MQTT_REJECT_UNAUTHORIZED: apply to an external broker at an mqtts:// or wss:// MQTT_URL, not mqtt://broker:1883',
    ]);
  });

  it('reads the external broker options: CA, client certificate and key, rejectUnauthorized', () => {
    const client = certs.client('bridge', 'bridge', ca);
    expect(
      load({
        MQTT_URL: 'mqtts://broker:8883',
        MQTT_CA_FILE: ca.certFile,
        MQTT_CERT_FILE: client.certFile,
        MQTT_KEY_FILE: client.keyFile,
      }).mqtt.externalTls,
    ).toEqual({ caFile: ca.certFile, certFile: client.certFile, keyFile: client.keyFile, rejectUnauthorized: true });
    expect(
      load({ MQTT_URL: 'wss://broker/mqtt', MQTT_REJECT_UNAUTHORIZED: 'false' }).mqtt.externalTls?.rejectUnauthorized,
    ).toBe(false);
    expect(problems({ MQTT_URL: 'mqtts://broker', MQTT_CERT_FILE: client.certFile })).toEqual([
      `MQTT_CERT_FILE=${client.certFile}: needs MQTT_KEY_FILE, the PEM private key of that certificate`,
    ]);
    expect(problems({ MQTT_URL: 'mqtts://broker', MQTT_REJECT_UNAUTHORIZED: 'no' })).toEqual([
      'MQTT_REJECT_UNAUTHORIZED=no: expected one of true, false',
    ]);
  });
});

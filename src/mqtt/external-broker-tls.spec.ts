import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createServer } from 'node:tls';
import mqtt from 'mqtt';
import { TestCertificates } from '../../test/support/certificates';
import type { Env } from '../config/load-config';
import { loadConfig } from '../config/load-config';
import { externalTlsOptions } from './broker-connection';

/** MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE and MQTT_REJECT_UNAUTHORIZED towards an external broker (issue #13). */
describe('externalTlsOptions', () => {
  const certs = new TestCertificates();
  const ca = certs.ca('broker-ca');
  const server = certs.server('broker', ca);
  const bridge = certs.client('bridge', 'devicehub-bridge', ca);
  const tlsOf = (env: Env): ReturnType<typeof externalTlsOptions> =>
    externalTlsOptions(
      loadConfig({ DATA_DIR: mkdtempSync(join(tmpdir(), 'dhb-ext-tls-')), MQTT_URL: 'mqtts://127.0.0.1:8883', ...env })
        .mqtt.externalTls,
    );
  afterAll(() => certs.dispose());

  it("passes the files' contents and rejectUnauthorized from the configuration", () => {
    expect(tlsOf({})).toEqual({});
    expect(
      tlsOf({ MQTT_CA_FILE: ca.certFile, MQTT_CERT_FILE: bridge.certFile, MQTT_KEY_FILE: bridge.keyFile }),
    ).toEqual({
      ca: readFileSync(ca.certFile),
      cert: readFileSync(bridge.certFile),
      key: readFileSync(bridge.keyFile),
      rejectUnauthorized: true,
    });
    expect(tlsOf({ MQTT_REJECT_UNAUTHORIZED: 'false' })).toEqual({ rejectUnauthorized: false });
  });

  it('lets mqtt.connect trust the broker by the CA and show the client certificate', async () => {
    // A TLS server that, like a broker with require_certificate, admits only certificates of its CA.
    const seen: { authorized: boolean; cn: unknown }[] = [];
    const broker = createServer(
      {
        cert: readFileSync(server.certFile),
        key: readFileSync(server.keyFile),
        ca: readFileSync(ca.certFile),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket: TLSSocket) => {
        seen.push({ authorized: socket.authorized, cn: socket.getPeerCertificate().subject.CN });
        socket.destroy();
      },
    );
    await new Promise<void>((resolve) => broker.listen(0, '127.0.0.1', resolve));
    const { port } = broker.address() as AddressInfo;
    const options = tlsOf({
      MQTT_CA_FILE: ca.certFile,
      MQTT_CERT_FILE: bridge.certFile,
      MQTT_KEY_FILE: bridge.keyFile,
    });
    try {
      // The server closes after the handshake instead of answering CONNECT: the attempt fails, having shown its certificate.
      await expect(
        mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options }, false),
      ).rejects.toThrow();
      expect(seen).toEqual([{ authorized: true, cn: 'devicehub-bridge' }]);
      // Without the CA the bridge refuses the broker's certificate itself.
      await expect(
        mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000 }, false),
      ).rejects.toThrow(/self-signed|unable to verify|unable to get local issuer/i);
      expect(seen).toHaveLength(1);
    } finally {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    }
  });
});

import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { MqttTransport } from '../src/mqtt/mqtt-transport';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import type { Issued } from './support/certificates';
import { TestCertificates } from './support/certificates';
import { waitFor, refusalOf } from './support/wait';
import type { WsClient } from './support/web-clients';
import { openWs, wsUrl } from './support/web-clients';

/**
 * TLS for devices (issue #13, item 4): `mqtts://` and `wss://…/mqtt` on
 * MQTT_TLS_PORT, device certificates (CN `{type}/{id}`) with the password
 * ACL, and certificates rotated by writing new files. Always the embedded
 * broker, also in the integration run (MQTT_URL is overridden).
 */
describe('embedded MQTT broker over TLS', () => {
  const certs = new TestCertificates();
  const ca = certs.ca('devices-ca');
  const rogueCa = certs.ca('rogue-ca');
  const first = certs.server('server-1', ca);
  // The files the bridge watches: a rotation writes over them.
  const live = { cert: join(certs.dir, 'live.crt'), key: join(certs.dir, 'live.key') };
  let app: TestApp;
  let urls: { tls: string; wss: string };
  const clients: mqtt.MqttClient[] = [];
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    copyFileSync(first.certFile, live.cert);
    copyFileSync(first.keyFile, live.key);
    app = await bootApp({
      MQTT_URL: undefined,
      DEVICE_AUTH: 'required',
      TOPIC_PREFIX: 'things',
      MQTT_TLS_PORT: '0',
      MQTT_TLS_CERT: live.cert,
      MQTT_TLS_KEY: live.key,
      MQTT_TLS_CA: ca.certFile,
      ALLOWED_ORIGINS: 'https://devices.example',
    });
    const described = app.app.get(MqttTransport).describe();
    urls = { tls: described.tls ?? '', wss: described.secureWebsocket ?? '' };
  });
  afterAll(async () => {
    for (const ws of sockets) ws.close();
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await app.stop();
    certs.dispose();
  });

  const trust = (): { ca: Buffer } => ({ ca: readFileSync(ca.certFile) });
  const withCertificate = (issued: Issued): { cert: Buffer; key: Buffer } => ({
    cert: readFileSync(issued.certFile),
    key: readFileSync(issued.keyFile),
  });
  const connect = async (options: mqtt.IClientOptions, url = urls.tls): Promise<mqtt.MqttClient> => {
    // A device with credentials connects under its username as client id (issue #18).
    const clientId = options.username ?? '';
    const client = await mqtt.connectAsync(url, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clientId,
      ...trust(),
      ...options,
    });
    clients.push(client);
    return client;
  };
  const refusal = (options: mqtt.IClientOptions): Promise<string> => refusalOf(() => connect(options));
  const mint = async (type: string, id: string): Promise<{ username: string; password: string }> => {
    const res = await fetch(`${app.url}/admin/devices/${type}/${id}/credentials`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}` },
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { username: string; password: string };
  };
  const watch = async (type: string, id: string): Promise<WsClient> => {
    // Data only: a device connecting with its own credentials also makes a status event (issue #13).
    const ws = await openWs(wsUrl(app, `/ws/iot/${type}/${id}/?token=${app.clientToken}&event_types=data`));
    sockets.push(ws);
    return ws;
  };
  const closed = (client: mqtt.MqttClient): Promise<void> =>
    new Promise((resolve) => (client.connected ? client.once('close', () => resolve()) : resolve()));
  /** The certificate a new TLS connection to the listener is shown. */
  const servedFingerprint = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const { hostname, port } = new URL(urls.tls);
      const socket = tlsConnect({ host: hostname, port: Number(port), ...trust() }, () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      });
      socket.once('error', reject);
    });

  it('takes a password device over mqtts:// and wss://, and a WebSocket client receives what it sends', async () => {
    expect(urls.tls).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    expect(urls.wss).toBe(`${urls.tls.replace('mqtts', 'wss')}/mqtt`);
    const creds = await mint('weatherstation', 'tls-1');
    const ws = await watch('weatherstation', 'tls-1');
    const device = await connect({ username: creds.username, password: creds.password });
    await device.publishAsync('things/weatherstation/tls-1/data', JSON.stringify({ temperature: 21.5 }), { qos: 1 });
    const overWss = await connect({ username: creds.username, password: creds.password }, urls.wss);
    await overWss.publishAsync('things/weatherstation/tls-1/data', JSON.stringify({ temperature: 22 }), { qos: 1 });
    const events = await ws.waitForEvents(2);
    expect(events.map((e) => e.data)).toEqual([{ temperature: 21.5 }, { temperature: 22 }]);
    expect(events[0]).toMatchObject({ event: 'data', device_type: 'weatherstation', device_id: 'tls-1' });
  });

  it('refuses a client that does not trust the server certificate, and one that is not TLS on the TLS port', async () => {
    expect(await refusal({ ca: readFileSync(rogueCa.certFile) })).toMatch(
      /self-signed|unable to verify|unable to get/i,
    );
    // Plain MQTT on the TLS port is a failed handshake; the listener goes on serving.
    const plain = mqtt.connectAsync(
      urls.tls.replace('mqtts:', 'mqtt:'),
      { reconnectPeriod: 0, connectTimeout: 5000 },
      false,
    );
    await expect(plain).rejects.toThrow("Couldn't connect to server");
    expect(await servedFingerprint()).toBe(first.fingerprint256);
  });

  it('admits a device by its certificate, CN weatherstation/ws-1, without a password, confined by the ACL', async () => {
    const ws = await watch('weatherstation', 'ws-1');
    const device = await connect(withCertificate(certs.client('ws-1', 'weatherstation/ws-1', ca)));
    const granted = await device.subscribeAsync('things/weatherstation/ws-1/cmd', { qos: 1 });
    expect(granted[0].qos).toBe(1);
    await expect(device.subscribeAsync('things/weatherstation/ws-2/cmd', { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    await device.publishAsync('things/weatherstation/ws-1/data', JSON.stringify({ humidity: 40 }), { qos: 1 });
    expect((await ws.waitForEvents(1))[0].data).toEqual({ humidity: 40 });

    // The same certificate over wss://.
    const overWss = await connect(withCertificate(certs.client('ws-1b', 'weatherstation/ws-1', ca)), urls.wss);
    await overWss.publishAsync('things/weatherstation/ws-1/data', JSON.stringify({ humidity: 41 }), { qos: 1 });
    expect((await ws.waitForEvents(2))[1].data).toEqual({ humidity: 41 });

    // Publishing as another device ends the connection; another device keeps being served.
    const gone = closed(device);
    device.publish('things/weatherstation/ws-2/data', JSON.stringify({ humidity: 1 }), { qos: 1 });
    await gone;
    await overWss.publishAsync('things/weatherstation/ws-1/data', JSON.stringify({ humidity: 42 }), { qos: 1 });
    expect((await ws.waitForEvents(3))[2].data).toEqual({ humidity: 42 });
  });

  it('refuses untrusted certificates, CNs that name no device, and a username that is not the CN', async () => {
    const ws = await watch('weatherstation', 'ws-7');
    const witness = await connect(withCertificate(certs.client('ws-7', 'weatherstation/ws-7', ca)));
    expect(await refusal(withCertificate(certs.client('rogue', 'weatherstation/ws-1', rogueCa)))).toMatch(
      /Not authorized/,
    );
    expect(await refusal(withCertificate(certs.client('odd', 'just-a-name', ca)))).toMatch(/Not authorized/);
    expect(
      await refusal({
        ...withCertificate(certs.client('ws-8', 'weatherstation/ws-8', ca)),
        username: 'weatherstation/ws-1',
      }),
    ).toMatch(/Not authorized/);
    // Without a certificate a device falls back to its password (MQTT_TLS_CLIENT_CERTS=optional).
    expect(await refusal({ username: 'weatherstation/ws-1', password: 'guess' })).toMatch(/Bad username or password/);
    await witness.publishAsync('things/weatherstation/ws-7/data', JSON.stringify({ ok: true }), { qos: 1 });
    expect((await ws.waitForEvents(1))[0].data).toEqual({ ok: true });
  });

  /** A device with a persistent session that keeps every command it receives; listens before the CONNACK. */
  const persistent = (options: mqtt.IClientOptions): Promise<{ client: mqtt.MqttClient; commands: string[] }> => {
    const client = mqtt.connect(urls.tls, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clean: false,
      ...trust(),
      ...options,
    });
    clients.push(client);
    const commands: string[] = [];
    client.on('message', (_topic, payload) =>
      commands.push((JSON.parse(payload.toString()) as { command: string }).command),
    );
    return new Promise((resolve, reject) => {
      client.once('connect', () => resolve({ client, commands }));
      client.once('error', reject);
    });
  };
  const command = async (id: string, name: string): Promise<void> => {
    const res = await fetch(`${app.url}/api/devices/weatherstation/${id}/commands`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ command: name, payload: {} }),
    });
    expect(res.status).toBe(202);
  };
  const status = async (id: string): Promise<string> => {
    const res = await fetch(`${app.url}/api/devices/weatherstation/${id}`, {
      headers: { Authorization: `Bearer ${app.clientToken}` },
    });
    return ((await res.json()) as { status: string }).status;
  };

  it.each([
    ['cert-a', 'cert-b'],
    ['cert-b', 'cert-a'],
  ])(
    'refuses certificate device %s the client id of certificate device %s: the victim keeps its session and its queued command',
    async (attackerId, victimId) => {
      const attacker = withCertificate(certs.client(`take-${attackerId}`, `weatherstation/${attackerId}`, ca));
      const victim = withCertificate(certs.client(`kept-${victimId}`, `weatherstation/${victimId}`, ca));
      const victimClientId = `weatherstation/${victimId}`;
      const cmd = `things/weatherstation/${victimId}/cmd`;
      const queued = `queued-for-${victimId}`;
      const after = `after-for-${victimId}`;

      const away = await persistent({ ...victim, clientId: victimClientId });
      await away.client.subscribeAsync(cmd, { qos: 1 });
      await away.client.publishAsync(`things/weatherstation/${victimId}/status`, JSON.stringify({ status: 'online' }), {
        qos: 1,
      });
      await waitFor(async () => ((await status(victimId)) === 'online' ? true : undefined), 'the victim online');
      await away.client.endAsync();
      await command(victimId, queued);

      // The other device's certificate is trusted, but names another device than the client id.
      expect(await refusalOf(() => persistent({ ...attacker, clientId: victimClientId }))).toMatch(
        /Identifier rejected/,
      );

      const back = await persistent({ ...victim, clientId: victimClientId });
      await waitFor(() => (back.commands.includes(queued) ? true : undefined), `${queued} at the victim`);

      // Refused again while the victim is connected: it is not kicked off.
      expect(await refusalOf(() => persistent({ ...attacker, clientId: victimClientId, clean: true }))).toMatch(
        /Identifier rejected/,
      );
      await command(victimId, after);
      await waitFor(() => (back.commands.includes(after) ? true : undefined), `${after} at the victim`);
      expect(back.client.connected).toBe(true);
      expect(await status(victimId)).toBe('online');

      // The refused device is served as itself.
      const own = await persistent({ ...attacker, clientId: `weatherstation/${attackerId}`, clean: true });
      await own.client.publishAsync(`things/weatherstation/${attackerId}/data`, JSON.stringify({ t: 1 }), { qos: 1 });
      expect(own.client.connected).toBe(true);
      await back.client.endAsync();
    },
  );

  it("refuses a password device a certificate device's client id, and a certificate device a password device's", async () => {
    const password = await mint('weatherstation', 'pw-x');
    const certificate = withCertificate(certs.client('cert-x', 'weatherstation/cert-x', ca));
    expect(await refusal({ ...password, clientId: 'weatherstation/cert-x' })).toMatch(/Identifier rejected/);
    expect(await refusal({ ...certificate, clientId: 'weatherstation/pw-x' })).toMatch(/Identifier rejected/);
    // Each as itself (the certificate's CN is its username), and with an empty client id.
    await connect({ ...password, clientId: 'weatherstation/pw-x' });
    await connect({ ...certificate, clientId: 'weatherstation/cert-x' });
    await connect({ ...certificate, clientId: '' });
  });

  it("refuses a cross-origin wss:// upgrade that rides on a browser's client certificate; listed origins and passwords are served", async () => {
    const ws = await watch('weatherstation', 'ws-origin');
    const certificate = withCertificate(certs.client('ws-origin', 'weatherstation/ws-origin', ca));
    /** The HTTP answer to a WebSocket upgrade with the certificate: refused with its body, or 101. */
    const upgrade = (origin: string): Promise<{ status: number; body?: unknown }> =>
      new Promise((resolve, reject) => {
        const raw = new WebSocket(urls.wss, ['mqtt'], { ...certificate, ...trust(), headers: { Origin: origin } });
        raw.once('unexpected-response', (_req, res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        });
        raw.once('open', () => {
          raw.terminate();
          resolve({ status: 101 });
        });
        raw.once('error', reject);
      });
    for (const origin of ['https://evil.example', 'null', app.url]) {
      expect(await upgrade(origin)).toEqual({
        status: 403,
        body: {
          error: 'origin_not_allowed',
          message: expect.stringContaining(
            "may not connect with the browser's client certificate: list it in ALLOWED_ORIGINS",
          ),
        },
      });
    }
    expect(await upgrade('https://devices.example')).toEqual({ status: 101 });
    const viaPage = (origin: string, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> =>
      connect({ ...options, wsOptions: { headers: { Origin: origin } } }, urls.wss);
    const listed = await viaPage('https://devices.example', certificate);
    await listed.publishAsync('things/weatherstation/ws-origin/data', JSON.stringify({ n: 1 }), { qos: 1 });
    // Without a certificate the page writes the credentials into the CONNECT itself: no Origin rule.
    const creds = await mint('weatherstation', 'ws-origin-pw');
    const byPassword = await viaPage('https://evil.example', creds);
    await byPassword.publishAsync('things/weatherstation/ws-origin-pw/data', JSON.stringify({ n: 2 }), { qos: 1 });
    // Not a browser (no Origin): served as before.
    const device = await connect(certificate, urls.wss);
    await device.publishAsync('things/weatherstation/ws-origin/data', JSON.stringify({ n: 3 }), { qos: 1 });
    expect((await ws.waitForEvents(2)).map((e) => e.data)).toEqual([{ n: 1 }, { n: 3 }]);
  });

  it('serves a rotated certificate to new connections once its files change; open connections stay', async () => {
    const creds = await mint('weatherstation', 'tls-rot');
    const ws = await watch('weatherstation', 'tls-rot');
    // A second device for the new connection: one client id is one session, so the same device would take over.
    const creds2 = await mint('weatherstation', 'tls-rot-2');
    const ws2 = await watch('weatherstation', 'tls-rot-2');
    const before = await connect({ username: creds.username, password: creds.password });
    expect(await servedFingerprint()).toBe(first.fingerprint256);

    const second = certs.server('server-2', ca);
    copyFileSync(second.keyFile, live.key);
    copyFileSync(second.certFile, live.cert);
    await waitFor(
      async () => ((await servedFingerprint()) === second.fingerprint256 ? true : undefined),
      'the new certificate on a new connection',
      10_000,
    );
    const after = await connect({ username: creds2.username, password: creds2.password });
    expect(
      (after.stream as unknown as { getPeerCertificate(): { fingerprint256: string } }).getPeerCertificate()
        .fingerprint256,
    ).toBe(second.fingerprint256);
    expect(before.connected).toBe(true);
    await before.publishAsync('things/weatherstation/tls-rot/data', JSON.stringify({ n: 1 }), { qos: 1 });
    await after.publishAsync('things/weatherstation/tls-rot-2/data', JSON.stringify({ n: 2 }), { qos: 1 });
    expect((await ws.waitForEvents(1)).map((e) => e.data)).toEqual([{ n: 1 }]);
    expect((await ws2.waitForEvents(1)).map((e) => e.data)).toEqual([{ n: 2 }]);
  });
});

import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { refusalOf } from './support/wait';
import { wsUrl } from './support/web-clients';

const EVIL = 'https://evil.example';

/**
 * The other two upgrade paths and the Origin rule (issue #18, item 6; see
 * OriginPolicy): a page of another origin gets a browser to send the
 * bridge's `token` cookie (and any cached credential) with every handshake.
 * `/ws/iot/…` and socket.io take the cookie, so they check the Origin. The
 * signalling endpoint `/v1` and MQTT over WebSocket `/mqtt` take no
 * credential from the handshake's headers at all (only `?token=`/`?key=`,
 * and the MQTT CONNECT, which the page writes itself), so a cross-origin
 * page riding on the cookie must gain nothing there: these tests fail the
 * day either starts reading the cookie or a header. Always the embedded
 * broker, also in the integration run.
 */
describe('Origin and ambient credentials on /v1 and /mqtt', () => {
  let app: TestApp;
  let cookie: string;
  const clients: mqtt.MqttClient[] = [];

  beforeAll(async () => {
    app = await bootApp({ MQTT_URL: undefined, DEVICE_AUTH: 'required', TOPIC_PREFIX: 'things' });
    cookie = `theme=dark; token=${encodeURIComponent(app.clientToken)}`;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await app.stop();
  });

  /** A raw `/v1` connection: the frames it got and how it ended, or the first frame when it is kept open. */
  const signalling = (
    query: string,
    headers: Record<string, string>,
  ): Promise<{ frames: string[]; close?: number; reason?: string }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${wsUrl(app, '/v1')}${query}`, { headers });
      const frames: string[] = [];
      ws.on('message', (data: Buffer) => {
        frames.push((JSON.parse(data.toString()) as { type: string }).type);
        ws.close();
        resolve({ frames });
      });
      ws.once('close', (code, reason) => resolve({ frames, close: code, reason: reason.toString() }));
      ws.once('error', reject);
    });

  it('/v1 reads no credential from the cookie or a header: a cross-origin page riding on them is closed 4001 before any welcome', async () => {
    for (const headers of <Record<string, string>[]>[
      { Cookie: cookie, Origin: EVIL },
      { Cookie: cookie, Origin: app.url },
      { Cookie: cookie, Authorization: `Bearer ${app.clientToken}`, Origin: EVIL },
      { Cookie: cookie, Authorization: `Bearer ${app.adminToken}`, Origin: EVIL },
    ]) {
      expect(await signalling('', headers)).toEqual({
        frames: [],
        close: 4001,
        reason: 'missing credential: ?token= or ?key=',
      });
    }
    // A token the page put in the URL itself is its own doing: welcomed from any origin.
    expect(await signalling(`?token=${encodeURIComponent(app.clientToken)}`, { Origin: EVIL })).toEqual({
      frames: ['welcome'],
    });
  });

  const overWebSocket = (options: mqtt.IClientOptions, headers: Record<string, string>): Promise<mqtt.MqttClient> =>
    mqtt
      .connectAsync(
        wsUrl(app, '/mqtt'),
        { reconnectPeriod: 0, connectTimeout: 5000, wsOptions: { headers }, ...options },
        false,
      )
      .then((client) => {
        clients.push(client);
        return client;
      });

  it('/mqtt takes credentials only from the MQTT CONNECT: a cross-origin upgrade with the cookie and bearer tokens is refused', async () => {
    for (const headers of <Record<string, string>[]>[
      { Cookie: cookie, Origin: EVIL },
      { Cookie: cookie, Authorization: `Bearer ${app.adminToken}`, Origin: EVIL },
      {
        Cookie: cookie,
        Authorization: `Basic ${Buffer.from('weatherstation/o-1:x').toString('base64')}`,
        Origin: EVIL,
      },
    ]) {
      expect(await refusalOf(() => overWebSocket({ clientId: '' }, headers))).toMatch(/Not authorized/);
    }
    // The device credentials a page writes into its CONNECT are its own: admitted from any origin.
    const res = await fetch(`${app.url}/admin/devices/weatherstation/o-1/credentials`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}` },
    });
    const { username, password } = (await res.json()) as { username: string; password: string };
    const device = await overWebSocket({ clientId: username, username, password }, { Origin: EVIL });
    await device.publishAsync('things/weatherstation/o-1/data', JSON.stringify({ t: 1 }), { qos: 1 });
    expect(device.connected).toBe(true);
  });
});

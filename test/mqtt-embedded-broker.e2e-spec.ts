import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import mqtt from 'mqtt';
import { DataSource } from 'typeorm';
import { MqttCredential } from '../src/mqtt/mqtt-credential.entity';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { refusalOf } from './support/wait';
import { runService } from './support/process';
import { listenWs } from './support/web-clients';

/**
 * The embedded broker's security (issue #2): per-device credentials minted by
 * the admin API, gateways scoped to topic filters, the topic ACL, anonymous
 * devices only with DEVICE_AUTH=off, MQTT over WebSocket at /mqtt, and a clear
 * message when MQTT_PORT is taken. Always the embedded broker, also in the
 * integration run (MQTT_URL is overridden).
 */
describe('embedded MQTT broker', () => {
  let app: TestApp;
  const clients: mqtt.MqttClient[] = [];

  beforeAll(async () => {
    app = await bootApp({ MQTT_URL: undefined, DEVICE_AUTH: 'required', TOPIC_PREFIX: 'things' });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await app.stop();
  });

  const admin = (path: string, body?: unknown): Promise<Response> =>
    fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const mint = async (type: string, id: string): Promise<{ username: string; password: string }> => {
    const res = await admin(`/admin/devices/${type}/${id}/credentials`);
    expect(res.status).toBe(201);
    return (await res.json()) as { username: string; password: string };
  };
  /** A device's or gateway's own credentials, with its username as its client id (the broker takes no other). */
  const own = (creds: { username: string; password: string }): mqtt.IClientOptions => ({
    ...creds,
    clientId: creds.username,
  });
  const connect = async (options: mqtt.IClientOptions, url = app.mqttUrl): Promise<mqtt.MqttClient> => {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    clients.push(client);
    return client;
  };
  const refusal = (options: mqtt.IClientOptions): Promise<string> => refusalOf(() => connect(options));
  /** Listens as a web client does (a WebSocket on the device's stream); the function returned gives its next data. */
  const nextData = async (type: string, id: string, on = app): Promise<() => Promise<unknown>> => {
    const ws = await listenWs(on, type, id, ['data']);
    return async () => {
      try {
        return (await ws.waitForEvents(1))[0].data;
      } finally {
        ws.close();
      }
    };
  };
  const closed = (client: mqtt.MqttClient): Promise<void> =>
    new Promise((resolve) => (client.connected ? client.once('close', () => resolve()) : resolve()));

  it('refuses anonymous devices and wrong passwords, telling the device why', async () => {
    expect(await refusal({})).toMatch(/Not authorized/i);
    await mint('weatherstation', 'ws-9');
    expect(await refusal({ username: 'weatherstation/ws-9', password: 'wrong' })).toMatch(/Bad username or password/i);
  });

  it('mints device credentials behind the admin token: shown once, hashed, and they work', async () => {
    const anonymous = await fetch(`${app.url}/admin/devices/weatherstation/ws-1/credentials`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    const creds = await mint('weatherstation', 'ws-1');
    expect(creds.username).toBe('weatherstation/ws-1');
    expect(creds.password.length).toBeGreaterThanOrEqual(20);
    // Stored as a salted hash only, and there is no way to read it back.
    const stored = await app.app
      .get(DataSource)
      .getRepository(MqttCredential)
      .findOneByOrFail({ username: creds.username });
    expect(stored.passwordHash).toMatch(/^scrypt\$/);
    expect(stored.passwordHash).not.toContain(creds.password);
    const readBack = await fetch(`${app.url}/admin/devices/weatherstation/ws-1/credentials`, {
      headers: { Authorization: `Bearer ${app.adminToken}` },
    });
    expect(readBack.status).toBe(404);
    const device = await connect(own(creds));
    const data = await nextData('weatherstation', 'ws-1');
    await device.publishAsync('things/weatherstation/ws-1/data', JSON.stringify({ temperature: 20 }), { qos: 1 });
    expect(await data()).toEqual({ temperature: 20 });
  });

  it('lets a device subscribe only to its own cmd, and closes it when it publishes under another device', async () => {
    const creds = await mint('weatherstation', 'ws-2');
    const device = await connect(own(creds));
    const granted = await device.subscribeAsync('things/weatherstation/ws-2/cmd', { qos: 1 });
    expect(granted[0].qos).toBe(1);
    // SUBACK 0x80 for each refused filter; MQTT.js turns it into an error, and the connection stays.
    await expect(device.subscribeAsync('things/weatherstation/ws-1/cmd', { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    await expect(device.subscribeAsync('things/#', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(device.connected).toBe(true);

    // Another device keeps being served while this one misbehaves.
    const witness = await mint('weatherstation', 'ws-3');
    const good = await connect(own(witness));
    const gone = closed(device);
    device.publish('things/weatherstation/ws-1/data', JSON.stringify({ temperature: -1 }), { qos: 1 });
    await gone;
    const data = await nextData('weatherstation', 'ws-3');
    await good.publishAsync('things/weatherstation/ws-3/data', JSON.stringify({ temperature: 3 }), { qos: 1 });
    expect(await data()).toEqual({ temperature: 3 });
  });

  it('rotates credentials on a second mint: the old password stops working and its sessions end', async () => {
    const first = await mint('weatherstation', 'ws-4');
    const device = await connect(own(first));
    const gone = closed(device);
    const second = await mint('weatherstation', 'ws-4');
    expect(second.password).not.toBe(first.password);
    await gone;
    expect(await refusal({ username: first.username, password: first.password })).toMatch(/Bad username or password/i);
    await connect(own(second));
  });

  it('scopes gateway credentials to their topic filters, and answers 400 naming bad fields', async () => {
    const bad = await admin('/admin/gateways', { name: 'a/b', topics: ['$SYS/#'] });
    expect(bad.status).toBe(400);
    expect(Object.keys(((await bad.json()) as { fields: object }).fields).sort()).toEqual(['name', 'topics']);

    const res = await admin('/admin/gateways', {
      name: 'yard-gw',
      topics: ['things/camera/+/data', 'things/camera/+/cmd'],
    });
    expect(res.status).toBe(201);
    const gw = (await res.json()) as { username: string; password: string };
    const gateway = await connect(own(gw));
    const cmd = await gateway.subscribeAsync('things/camera/+/cmd', { qos: 1 });
    expect(cmd[0].qos).toBe(1);
    await expect(gateway.subscribeAsync('things/weatherstation/+/cmd', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    const data = await nextData('camera', 'cam-7');
    await gateway.publishAsync('things/camera/cam-7/data', JSON.stringify({ motion: true }), { qos: 1 });
    expect(await data()).toEqual({ motion: true });
    const gone = closed(gateway);
    gateway.publish('things/weatherstation/ws-1/data', JSON.stringify({ temperature: 1 }), { qos: 1 });
    await gone;
  });

  it('serves MQTT over WebSocket at /mqtt on the HTTP port, with the same credentials', async () => {
    const creds = await mint('weatherstation', 'ws-5');
    const device = await connect(own(creds), `${app.url.replace('http', 'ws')}/mqtt`);
    const data = await nextData('weatherstation', 'ws-5');
    await device.publishAsync('things/weatherstation/ws-5/data', JSON.stringify({ temperature: 5 }), { qos: 1 });
    expect(await data()).toEqual({ temperature: 5 });
  });

  it('admits anonymous devices with DEVICE_AUTH=off', async () => {
    const open = await bootApp({ MQTT_URL: undefined, DEVICE_AUTH: 'off', TOPIC_PREFIX: 'things' });
    try {
      const device = await mqtt.connectAsync(open.mqttUrl, { reconnectPeriod: 0 });
      const data = await nextData('weatherstation', 'anon-1', open);
      await device.publishAsync('things/weatherstation/anon-1/data', JSON.stringify({ temperature: 1 }), { qos: 1 });
      expect(await data()).toEqual({ temperature: 1 });
      await device.endAsync();
    } finally {
      await open.stop();
    }
  });
});

describe('embedded MQTT broker on a taken port', () => {
  let holder: Server;
  let port: number;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    port = (holder.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  it('exits 1 with a message naming the port and the two ways out', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dhb-port-'));
    const service = runService({ PORT: '0', HOST: '127.0.0.1', MQTT_PORT: String(port), DATA_DIR: dataDir });
    expect(await service.exited()).toBe(1);
    const message = service.errors();
    expect(message).toContain(`MQTT port ${port}`);
    expect(message).toContain('MQTT_PORT');
    expect(message).toContain(`MQTT_URL=mqtt://127.0.0.1:${port}`);
    expect(holder.listening).toBe(true);
    rmSync(dataDir, { recursive: true, force: true });
  });
});

import mqtt from 'mqtt';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import { waitFor } from './support/wait';
import type { SdkPeer } from './fixtures/signalling/clients';
import { mint as mintToken, rejection, sdkPeer } from './fixtures/signalling/clients';

interface Credentials {
  username: string;
  password: string;
}

/** An MQTT client that keeps the commands it receives, by device id. */
interface Listener {
  client: mqtt.MqttClient;
  commands: { deviceId: string; command: string }[];
}

/**
 * Devices the bridge knows before they publish (issue #13): minting a
 * device's credentials registers it as `provisioning`, connecting to the
 * embedded broker with them makes it `online`, and both can be commanded
 * over REST and on the signalling `cmd` channel. A device the bridge never
 * heard of is still a 404. Always the embedded broker, also in the
 * integration run.
 */
describe('provisioned devices', () => {
  let storage: Storage;
  let app: TestApp;
  let operator: SdkPeer;
  const clients: mqtt.MqttClient[] = [];
  const env = { MQTT_URL: undefined, DEVICE_AUTH: 'required', TOPIC_PREFIX: 'things' };

  beforeAll(async () => {
    storage = await freshStorage();
    app = await bootApp(env, storage);
    operator = sdkPeer(app, {
      token: mintToken(app, { peerId: 'operator', channels: ['things/**'], permissions: ['subscribe', 'publish'] }),
    });
    await operator.client.connect();
  });
  afterAll(async () => {
    await operator.client.close();
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await app.stop();
    await storage.dispose();
  });

  const admin = async (path: string, body?: unknown): Promise<Response> =>
    fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const mint = async (id: string): Promise<Credentials> => {
    const res = await admin(`/admin/devices/weatherstation/${id}/credentials`);
    expect(res.status).toBe(201);
    return (await res.json()) as Credentials;
  };
  const device = async (id: string): Promise<{ status: number; body: { status?: string; error?: string } }> => {
    const res = await fetch(`${app.url}/api/devices/weatherstation/${id}`, {
      headers: { Authorization: `Bearer ${app.clientToken}` },
    });
    return { status: res.status, body: (await res.json()) as { status?: string; error?: string } };
  };
  const command = (id: string, name: string): Promise<Response> =>
    admin(`/api/devices/weatherstation/${id}/commands`, { command: name, payload: {} });
  /** Connects and subscribes to `filter`, publishing nothing. */
  const listen = async (credentials: Credentials, filter: string): Promise<Listener> => {
    const client = await mqtt.connectAsync(app.mqttUrl, {
      ...credentials,
      clientId: credentials.username,
      reconnectPeriod: 0,
    });
    clients.push(client);
    const listener: Listener = { client, commands: [] };
    client.on('message', (topic, payload) =>
      listener.commands.push({
        deviceId: topic.split('/')[2],
        command: (JSON.parse(payload.toString()) as { command: string }).command,
      }),
    );
    await client.subscribeAsync(filter, { qos: 1 });
    return listener;
  };
  const received = (listener: Listener, deviceId: string, name: string): Promise<true> =>
    waitFor(
      () => (listener.commands.some((c) => c.deviceId === deviceId && c.command === name) ? true : undefined),
      `${name} for ${deviceId}`,
    );

  it('knows a device as provisioning once its credentials are minted, and commands reach it', async () => {
    expect((await device('ws-010')).status).toBe(404);
    await mint('ws-010');
    expect(await device('ws-010')).toEqual({ status: 200, body: expect.objectContaining({ status: 'provisioning' }) });

    // A gateway listening for the fleet's commands: its connection says nothing about ws-010's status.
    const res = await admin('/admin/gateways', { name: 'yard', topics: ['things/weatherstation/+/cmd'] });
    const gateway = await listen((await res.json()) as Credentials, 'things/weatherstation/+/cmd');
    expect((await command('ws-010', 'set_interval')).status).toBe(202);
    await received(gateway, 'ws-010', 'set_interval');
    await operator.client.publish('things/weatherstation/ws-010/cmd', { command: 'reboot', payload: {} });
    await received(gateway, 'ws-010', 'reboot');
    expect((await device('ws-010')).body.status).toBe('provisioning');
  });

  it('marks a device online when it connects, and commands it before it has published anything', async () => {
    const credentials = await mint('ws-011');
    const ws011 = await listen(credentials, 'things/weatherstation/ws-011/cmd');
    await waitFor(async () => ((await device('ws-011')).body.status === 'online' ? true : undefined), 'ws-011 online');
    expect((await command('ws-011', 'set_interval')).status).toBe(202);
    await received(ws011, 'ws-011', 'set_interval');
    await operator.client.publish('things/weatherstation/ws-011/cmd', { command: 'reboot', payload: {} });
    await received(ws011, 'ws-011', 'reboot');
    expect(ws011.commands.map((c) => c.command)).toEqual(['set_interval', 'reboot']);
  });

  it('answers 404 (and invalid_channel) for a device it never heard of, and goes on serving the others', async () => {
    const res = await command('ws-999', 'reboot');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'unknown_device', message: 'No device weatherstation/ws-999' });
    const refused = await rejection(
      operator.client.publish('things/weatherstation/ws-999/cmd', { command: 'reboot', payload: {} }),
    );
    expect(refused.name).toBe('invalid_channel');
    expect(refused.message).toContain('No device weatherstation/ws-999');

    const ws012 = await listen(await mint('ws-012'), 'things/weatherstation/ws-012/cmd');
    expect((await command('ws-012', 'still-served')).status).toBe(202);
    await received(ws012, 'ws-012', 'still-served');
  });

  it('still knows a provisioned device after a restart', async () => {
    await mint('ws-013');
    await app.stop();
    app = await bootApp(env, storage);
    expect((await device('ws-013')).body.status).toBe('provisioning');
    expect((await device('ws-010')).body.status).toBe('provisioning');
  });
});

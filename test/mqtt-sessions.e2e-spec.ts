import { Logger } from '@nestjs/common';
import mqtt from 'mqtt';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { waitFor, refusalOf } from './support/wait';

interface Credentials {
  username: string;
  password: string;
}

/** A device on the embedded broker that keeps every command it receives. */
interface Device {
  client: mqtt.MqttClient;
  commands: string[];
}

/**
 * Sessions on the embedded broker (issue #18): a client id is bound to the
 * credentials that connect with it, so no device can end another device's
 * session or take the commands queued for it; MQTT 5 clients are told
 * plainly that the embedded broker speaks MQTT 3.1.1. Always the embedded
 * broker, also in the integration run.
 */
describe('embedded MQTT broker sessions', () => {
  let app: TestApp;
  const clients: mqtt.MqttClient[] = [];
  let warnings: jest.SpyInstance;

  beforeAll(async () => {
    app = await bootApp({ MQTT_URL: undefined, DEVICE_AUTH: 'required', TOPIC_PREFIX: 'things' });
  });
  beforeEach(() => {
    warnings = jest.spyOn(Logger.prototype, 'warn');
  });
  afterEach(() => warnings.mockRestore());
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await app.stop();
  });

  const post = async (path: string, body?: unknown): Promise<Response> =>
    fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const mint = async (id: string): Promise<Credentials> =>
    (await (await post(`/admin/devices/weatherstation/${id}/credentials`)).json()) as Credentials;
  const command = async (id: string, name: string): Promise<void> => {
    const res = await post(`/api/devices/weatherstation/${id}/commands`, { command: name, payload: {} });
    expect(res.status).toBe(202);
  };
  const status = async (id: string): Promise<string> => {
    const res = await fetch(`${app.url}/api/devices/weatherstation/${id}`, {
      headers: { Authorization: `Bearer ${app.clientToken}` },
    });
    return ((await res.json()) as { status: string }).status;
  };
  const loggedWarning = (pattern: RegExp): boolean =>
    warnings.mock.calls.some(([line]) => typeof line === 'string' && pattern.test(line));

  /** Connects with a persistent session; listens before the CONNACK, so commands queued while away are kept too. */
  const connect = (options: mqtt.IClientOptions): Promise<Device> => {
    const client = mqtt.connect(app.mqttUrl, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clean: false,
      ...options,
    });
    clients.push(client);
    const device: Device = { client, commands: [] };
    client.on('message', (_topic, payload) =>
      device.commands.push((JSON.parse(payload.toString()) as { command: string }).command),
    );
    return new Promise((resolve, reject) => {
      client.once('connect', () => resolve(device));
      client.once('error', reject);
    });
  };
  const refusal = (options: mqtt.IClientOptions): Promise<string> => refusalOf(() => connect(options));
  const received = (device: Device, name: string): Promise<true> =>
    waitFor(() => (device.commands.includes(name) ? true : undefined), `command ${name} at the device`);

  it('refuses a gateway the client id of a device, and any client id not its own', async () => {
    const device = await mint('ws-g');
    const res = await post('/admin/gateways', { name: 'yard', topics: ['things/weatherstation/#'] });
    const gateway = (await res.json()) as Credentials;
    const served = await connect({ ...device, clientId: device.username });
    expect(await refusal({ ...gateway, clientId: device.username })).toMatch(/Identifier rejected/);
    // The first refusal in this file: later ones within 5 s share its log line (rate-limited).
    expect(loggedWarning(/client weatherstation\/ws-g \(gateway yard\): its client id must be yard \(or empty\)/)).toBe(
      true,
    );
    expect(await refusal({ ...device, clientId: `mqttjs_${process.pid}` })).toMatch(/Identifier rejected/);
    // An empty client id gets a fresh one from the broker: nobody's session.
    await connect({ ...gateway, clientId: '', clean: true });
    expect(served.client.connected).toBe(true);
  });

  it.each([
    ['ws-a', 'ws-b'],
    ['ws-b', 'ws-a'],
  ])(
    'refuses %s connecting with the client id of %s: the victim keeps its session, its queued command and its status',
    async (attackerId, victimId) => {
      // Minted (again: rotated) for each direction, so no session carries over from the first.
      const attacker = await mint(attackerId);
      const victim = await mint(victimId);
      const cmd = `things/${victim.username}/cmd`;
      const statusTopic = `things/${victim.username}/status`;

      // The victim subscribes with a persistent session, says it is online, and goes away for a while.
      const away = await connect({ ...victim, clientId: victim.username });
      await away.client.subscribeAsync(cmd, { qos: 1 });
      await away.client.publishAsync(statusTopic, JSON.stringify({ status: 'online' }), { qos: 1 });
      await waitFor(async () => ((await status(victimId)) === 'online' ? true : undefined), 'the victim online');
      await away.client.endAsync();
      await command(victimId, 'queued');

      // The other device, with its own valid credentials and the victim's client id, is refused at CONNECT.
      expect(await refusal({ ...attacker, clientId: victim.username })).toMatch(/Identifier rejected/);

      // The victim comes back to its session and gets what was queued for it while it was away.
      const offline = {
        topic: statusTopic,
        payload: Buffer.from('{"status":"offline"}'),
        qos: 1 as const,
        retain: false,
      };
      const back = await connect({ ...victim, clientId: victim.username, will: offline });
      await received(back, 'queued');

      // Refused again while the victim is connected: the victim is not kicked off, nor marked offline.
      expect(await refusal({ ...attacker, clientId: victim.username, clean: true })).toMatch(/Identifier rejected/);
      await command(victimId, 'after');
      await received(back, 'after');
      expect(back.client.connected).toBe(true);
      expect(await status(victimId)).toBe('online');
      expect(back.commands).toEqual(['queued', 'after']);

      // The refused device is served as itself.
      const own = await connect({ ...attacker, clientId: attacker.username });
      await own.client.publishAsync(`things/${attacker.username}/data`, JSON.stringify({ temperature: 1 }), {
        qos: 1,
      });
      expect(own.client.connected).toBe(true);
    },
  );

  it('refuses MQTT 5 clients with a CONNACK and a log line naming the protocol and MQTT_URL; 3.1.1 devices go on', async () => {
    const witness = await mint('ws-v311');
    const served = await connect({ ...witness, clientId: witness.username });
    await served.client.subscribeAsync(`things/${witness.username}/cmd`, { qos: 1 });
    const v5 = await mint('ws-v5');
    expect(await refusal({ ...v5, clientId: v5.username, protocolVersion: 5, clean: true })).toMatch(
      /Unacceptable protocol version/i,
    );
    expect(loggedWarning(/speaks MQTT 5, the embedded broker MQTT 3\.1 and 3\.1\.1 only.*MQTT_URL/)).toBe(true);
    await served.client.publishAsync(`things/${witness.username}/status`, JSON.stringify({ status: 'online' }), {
      qos: 1,
    });
    await command('ws-v311', 'still-served');
    await received(served, 'still-served');
  });
});

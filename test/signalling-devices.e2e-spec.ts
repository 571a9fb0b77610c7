import type { Storage, TestApp } from './support/app';
import { bootApp, declareTypes, freshStorage } from './support/app';
import { TRANSPORTS, eventsOf } from './support/transport-clients';
import type { ContractClient } from './support/transport-clients';
import { waitFor } from './support/wait';
import type { Json, SdkPeer } from './fixtures/signalling/clients';
import { adminFetch, mint, rejection, sdkPeer } from './fixtures/signalling/clients';

/**
 * Devices that speak signalling are devices (issue #15), with the official
 * `@metered-ca/realtime` SignallingClient as the device: its publishes on
 * device channels are ingested as MQTT messages are, acknowledged once in the
 * log, deduplicated by message_id, refused with a protocol error, commanded
 * over REST, and its connection sets its status; an operator's own channel
 * layout (`SIGNALLING_DEVICE_CHANNELS`) works the same way.
 */
describe('signalling devices', () => {
  let storage: Storage;
  let app: TestApp;
  let prefix: string;
  let open: SdkPeer[] = [];

  beforeAll(async () => {
    storage = await freshStorage();
    const types = declareTypes(storage, {
      accept_undeclared: false,
      types: {
        sensor: {
          readings: { temperature: { type: 'number', unit: 'C', range: [-40, 80] } },
          commands: { set_interval: { payload: { interval: { type: 'integer', range: [1, 3600] } } } },
        },
      },
    });
    const mapping = {
      'fleet/{id}/telemetry': { type: 'sensor', kind: 'data' },
      'fleet/{id}/cmd': { type: 'sensor', kind: 'cmd' },
    };
    app = await bootApp({ DEVICE_TYPES: types, SIGNALLING_DEVICE_CHANNELS: JSON.stringify(mapping) }, storage);
    prefix = app.config.mqtt.topicPrefix;
  });
  afterEach(async () => {
    await Promise.all(open.map((p) => p.client.close()));
    open = [];
  });
  afterAll(async () => {
    await app.stop();
    await storage.dispose();
  });

  async function deviceToken(id: string): Promise<{ token: string; peerId: string; channels: string[] }> {
    const res = await adminFetch(app, 'POST', `/admin/devices/sensor/${id}/token`);
    expect(res.status).toBe(201);
    return res.body as { token: string; peerId: string; channels: string[] };
  }
  async function connected(token: string): Promise<SdkPeer> {
    const peer = sdkPeer(app, { token });
    open.push(peer);
    await peer.client.connect();
    return peer;
  }
  async function device(id: string): Promise<SdkPeer> {
    return connected((await deviceToken(id)).token);
  }
  async function api(path: string): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${app.url}${path}`, { headers: { Authorization: `Bearer ${app.clientToken}` } });
    return { status: res.status, body: await res.json() };
  }
  /** The device's events in the log, oldest first. */
  async function logged(id: string, eventType = 'data'): Promise<Json[]> {
    const res = await api(`/iot/poll/sensor/${id}/?cursor=0&limit=1000&event_types=${eventType}`);
    return res.body.events as Json[];
  }
  const statusOf = async (id: string): Promise<string> =>
    (await api(`/api/devices/sensor/${id}`)).body.status as string;

  it('ingests a publish on {prefix}/sensor/{id}/data like the MQTT message: acknowledged once in the log, on every transport once', async () => {
    const minted = await deviceToken('s-1');
    expect(minted.peerId).toBe('sensor/s-1');
    expect(await statusOf('s-1')).toBe('provisioning');
    const clients: ContractClient[] = await Promise.all(
      TRANSPORTS.map((t) =>
        t.open(app, { deviceType: 'sensor', deviceId: 's-1', eventTypes: ['data'], token: app.clientToken }),
      ),
    );
    const watcher = await connected(mint(app, { peerId: 'watcher', channels: [`${prefix}/**`] }));
    await watcher.client.subscribe(`${prefix}/sensor/*/data`);
    const dev = await connected(minted.token);
    await waitFor(async () => ((await statusOf('s-1')) === 'online' ? true : undefined), 's-1 online');

    await dev.client.publish(`${prefix}/sensor/s-1/data`, { temperature: 21.5, message_id: 'm-1' });
    // Acknowledged means written: the log has it when the ack arrives.
    const inLog = await logged('s-1');
    expect(inLog).toEqual([
      expect.objectContaining({ event: 'data', device_id: 's-1', data: { temperature: 21.5 }, message_id: 'm-1' }),
    ]);
    const id = inLog[0].id as string;
    for (const client of clients) {
      expect((await eventsOf(client, 1, 'the event')).map((e) => e.id)).toEqual([id]);
      client.close();
    }
    // The channel's subscribers get the mirror's copy (with its log id), not the raw publish as well.
    const message = await watcher.events.message.next((m) => m.channel.endsWith('/data'), 'the mirrored event');
    expect(message).toEqual({
      channel: `${prefix}/sensor/s-1/data`,
      from: '_server',
      data: expect.objectContaining({ id }),
    });
    expect(watcher.events.message.items).toHaveLength(1);
    const registry = (await api('/api/devices/sensor/s-1')).body;
    expect(registry).toMatchObject({ status: 'online', latest_readings: { temperature: { value: 21.5 } } });
    // Readings are stored after the commit, by the device writer.
    await waitFor(async () => {
      const history = JSON.stringify((await api('/api/devices/sensor/s-1/readings')).body);
      return history.includes('21.5') ? true : undefined;
    }, 'the reading in the history');
  });

  it('refuses what MQTT rejects with malformed_message naming the reason, keeps it in the rejects, and stays connected', async () => {
    const dev = await device('s-2');
    const err = await rejection(dev.client.publish(`${prefix}/sensor/s-2/data`, { temperature: 500 }));
    expect(err.name).toBe('malformed_message');
    expect(err.message).toMatch(/^schema_violation: temperature/);
    const notObject = await rejection(dev.client.publish(`${prefix}/sensor/s-2/status`, 'online'));
    expect([notObject.name, notObject.message]).toEqual([
      'malformed_message',
      'not_object: expected a JSON object, got a string',
    ]);
    const rejects = await adminFetch(app, 'GET', '/admin/rejects?reason=schema_violation');
    expect(rejects.body.rejects).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ topic: `${prefix}/sensor/s-2/data`, payload: '{"temperature":500}' }),
      ]),
    );
    // Still connected: the next publish goes through.
    await dev.client.publish(`${prefix}/sensor/s-2/status`, { status: 'maintenance', battery_level: 50 });
    expect(await statusOf('s-2')).toBe('maintenance');
    expect(await logged('s-2')).toEqual([]);
  });

  it('lets a device token publish only as itself and subscribe only to its command channel', async () => {
    const minted = await deviceToken('s-3');
    const dev = await connected(minted.token);
    // Its token covers its own cmd channel, to receive commands, not to send them.
    const command = await fetch(`${app.url}/api/devices/sensor/s-3/commands`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${minted.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ command: 'set_interval', payload: { interval: 5 } }),
    });
    expect([command.status, ((await command.json()) as Json).error]).toEqual([403, 'forbidden']);
    const refused = async (attempt: Promise<unknown>): Promise<string> => (await rejection(attempt)).name;
    expect(await refused(dev.client.publish(`${prefix}/sensor/s-4/data`, { temperature: 1 }))).toBe(
      'channel_not_authorized',
    );
    expect(await refused(dev.client.publish(`${prefix}/sensor/s-3/cmd`, { command: 'set_interval' }))).toBe(
      'channel_not_authorized',
    );
    expect(await refused(dev.client.publish('chat/room', { hi: 1 }))).toBe('channel_not_authorized');
    expect(await refused(dev.client.subscribe(`${prefix}/sensor/s-3/data`))).toBe('channel_not_authorized');
    expect(await refused(dev.client.subscribe(`${prefix}/**`))).toBe('channel_not_authorized');
    await dev.client.subscribe(`${prefix}/sensor/s-3/cmd`);
    expect(await logged('s-4')).toEqual([]);
  });

  it('logs a message resent after a reconnect once (message_id), and the connection sets the status', async () => {
    const dev = await device('s-5');
    await waitFor(async () => ((await statusOf('s-5')) === 'online' ? true : undefined), 's-5 online');
    await dev.client.publish(`${prefix}/sensor/s-5/data`, { temperature: 1, message_id: 'a' });
    // The network drops right after the next publish leaves: acknowledged or not, the device sends it again.
    const first = dev.client.publish(`${prefix}/sensor/s-5/data`, { temperature: 2, message_id: 'b' });
    dev.sockets[dev.sockets.length - 1].terminate();
    await first.catch(() => undefined);
    await dev.events.connected.next(() => dev.events.connected.items.length >= 2, 'the reconnect');
    await dev.client.publish(`${prefix}/sensor/s-5/data`, { temperature: 2, message_id: 'b' });
    await dev.client.publish(`${prefix}/sensor/s-5/data`, { temperature: 1, message_id: 'a' });
    expect((await logged('s-5')).map((e) => [e.message_id, e.data.temperature])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    // The drop said offline (a last will), the reconnect online again.
    const statuses = (await logged('s-5', 'status')).map((e) => [e.data.new_status, e.data.reason]);
    expect(statuses).toEqual([
      ['provisioning', 'token_minted'],
      ['online', 'connected'],
      ['offline', 'disconnected'],
      ['online', 'connected'],
    ]);
    // An administrator disconnects it (its peer id has a /, escaped in the path): offline, and the SDK stays away.
    const kicked = await adminFetch(app, 'DELETE', `/v1/peers/${encodeURIComponent('sensor/s-5')}`);
    expect(kicked).toEqual({ status: 200, body: { peerId: 'sensor/s-5', disconnected: 1 } });
    await waitFor(async () => ((await statusOf('s-5')) === 'offline' ? true : undefined), 's-5 offline when kicked');
  });

  it('sends a REST command to the device on its command channel; its cmd/response completes the call', async () => {
    const dev = await device('s-6');
    await dev.client.subscribe(`${prefix}/sensor/s-6/cmd`);
    dev.client.on('message', (m) => {
      const command = m.data as { request_id: string; payload: { interval: number } };
      void dev.client.publish(`${prefix}/sensor/s-6/cmd/response`, {
        request_id: command.request_id,
        result: { interval: command.payload.interval },
      });
    });
    const res = await fetch(`${app.url}/api/devices/sensor/s-6/commands`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ command: 'set_interval', payload: { interval: 30 }, timeout: 5 }),
    });
    const body = (await res.json()) as Json;
    expect([res.status, body]).toEqual([200, { request_id: expect.any(String), result: { interval: 30 } }]);
    // The device got it once, from the server, as MQTT devices get it on their cmd topic.
    expect(dev.events.message.items).toEqual([
      {
        channel: `${prefix}/sensor/s-6/cmd`,
        from: '_server',
        data: { command: 'set_interval', payload: { interval: 30 }, request_id: body.request_id },
      },
    ]);
  });

  it('maps an operator layout onto devices: fleet/{id}/telemetry is data, fleet/{id}/cmd its commands', async () => {
    const minted = await deviceToken('sensor-42');
    expect(minted.channels).toEqual(
      expect.arrayContaining(['fleet/sensor-42/telemetry', 'fleet/sensor-42/cmd', 'fleet/sensor-42/cmd/response']),
    );
    const backend = await connected(mint(app, { peerId: 'backend', channels: ['fleet/**'] }));
    await backend.client.subscribe('fleet/*/telemetry');
    const dev = await connected(minted.token);
    await dev.client.subscribe('fleet/sensor-42/cmd');
    dev.client.on('message', (m) => {
      const { request_id: requestId } = m.data as { request_id: string };
      void dev.client.publish('fleet/sensor-42/cmd/response', { request_id: requestId, result: 'ok' });
    });

    await dev.client.publish('fleet/sensor-42/telemetry', { temperature: 19 });
    expect(await logged('sensor-42')).toEqual([
      expect.objectContaining({ device_type: 'sensor', data: { temperature: 19 } }),
    ]);
    const mirrored = await backend.events.message.next(() => true, 'the mirrored telemetry');
    expect(mirrored).toEqual({
      channel: 'fleet/sensor-42/telemetry',
      from: '_server',
      data: expect.objectContaining({ id: expect.any(String), event: 'data', device_id: 'sensor-42' }),
    });
    const res = await fetch(`${app.url}/api/devices/sensor/sensor-42/commands`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ command: 'set_interval', payload: { interval: 5 }, timeout: 5 }),
    });
    expect([res.status, await res.json()]).toEqual([200, { request_id: expect.any(String), result: 'ok' }]);
    expect(backend.events.message.items).toHaveLength(1);
  });

  it('lets a gateway token act for the devices its patterns cover', async () => {
    const res = await adminFetch(app, 'POST', '/admin/gateways/token', {
      name: 'site-a',
      channels: ['fleet/*/telemetry', 'fleet/*/cmd'],
    });
    expect(res.status).toBe(201);
    const gateway = await connected(res.body.token as string);
    await gateway.client.subscribe('fleet/*/cmd');
    await gateway.client.publish('fleet/sensor-7/telemetry', { temperature: 7 });
    await gateway.client.publish('fleet/sensor-8/telemetry', { temperature: 8 });
    expect((await logged('sensor-7')).map((e) => e.data)).toEqual([{ temperature: 7 }]);
    expect((await logged('sensor-8')).map((e) => e.data)).toEqual([{ temperature: 8 }]);
    expect((await rejection(gateway.client.subscribe('fleet/*/telemetry'))).name).toBe('channel_not_authorized');
    // A gateway is no device: its connection and its leaving say nothing about any device's status.
    expect(await statusOf('sensor-7')).toBe('online');
    await gateway.client.close();
    await adminFetch(app, 'POST', '/admin/broadcast', {
      device_type: 'sensor',
      device_id: 'sensor-7',
      event_type: 'data',
      data: { temperature: 9 },
    });
    await waitFor(
      async () => ((await logged('sensor-7')).length === 2 ? true : undefined),
      'the broadcast after the close',
    );
    expect(await logged('sensor-7', 'status')).toEqual([]);
  });
});

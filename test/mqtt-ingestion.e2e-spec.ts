import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import { waitFor } from './support/wait';
import { listenWs } from './support/web-clients';
import type { WireEvent } from './support/web-clients';

interface RejectsAnswer {
  rejects: {
    topic: string;
    reason: string;
    detail: string;
    payload: string;
    payload_encoding: string;
    payload_size: number;
  }[];
  counts: Record<string, number>;
}

/**
 * Ingestion over MQTT as a device sends it (issue #2, "MQTT"): the three data
 * shapes, status and command responses become events; every kind of bad input
 * is counted, kept and dropped, and the next good message still arrives.
 * Runs on the embedded broker, and on Mosquitto when MQTT_URL is set.
 */
describe('MQTT ingestion', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let prefix: string;

  beforeAll(async () => {
    const storage = await freshStorage();
    const types = join(storage.dataDir, 'types.json');
    writeFileSync(
      types,
      JSON.stringify({
        accept_undeclared: false,
        types: {
          weatherstation: {
            heartbeat_interval: 300,
            readings: { temperature: { type: 'number', unit: '°C', range: [-50, 60] }, humidity: { type: 'number' } },
          },
        },
      }),
    );
    app = await bootApp({ DEVICE_TYPES: types, MAX_MESSAGE_SIZE: '1024' }, storage);
    const stopApp = app.stop;
    app.stop = async () => {
      await stopApp();
      await storage.dispose();
    };
    prefix = app.config.mqtt.topicPrefix;
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `ingest-${process.pid}-${Date.now()}` });
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
  });

  /** Listens for a weatherstation's next `count` events as a WebSocket client; call the answer to have them. */
  const next = async (deviceId: string, count: number): Promise<() => Promise<WireEvent[]>> => {
    const ws = await listenWs(app, 'weatherstation', deviceId);
    return async () => {
      try {
        return (await ws.waitForEvents(count, 10_000)).slice(0, count);
      } finally {
        ws.close();
      }
    };
  };
  const send = (topic: string, body: string | Buffer): Promise<unknown> => device.publishAsync(topic, body, { qos: 1 });
  const rejects = async (): Promise<RejectsAnswer> => {
    const res = await fetch(`${app.url}/admin/rejects?limit=1000`, {
      headers: { Authorization: `Bearer ${app.adminToken}` },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as RejectsAnswer;
  };

  it('turns flat, list and batch data into one data event per sample, with ids in order', async () => {
    const events = await next('ws-1', 4);
    await send(`${prefix}/weatherstation/ws-1/data`, JSON.stringify({ temperature: 25.3, humidity: 80.1 }));
    await send(
      `${prefix}/weatherstation/ws-1/data`,
      JSON.stringify({
        readings: [
          { type: 'temperature', value: 21 },
          { type: 'humidity', value: 50 },
        ],
      }),
    );
    await send(
      `${prefix}/weatherstation/ws-1/data`,
      JSON.stringify({
        readings: [
          { temperature: 1, timestamp: '2025-01-15T12:00:00.000Z' },
          { temperature: 2, timestamp: '2025-01-15T12:01:00.000Z' },
        ],
      }),
    );
    const got = await events();
    expect(got.map((e) => e.data)).toEqual([
      { temperature: 25.3, humidity: 80.1 },
      { temperature: 21, humidity: 50 },
      { temperature: 1 },
      { temperature: 2 },
    ]);
    expect(got[0]).toMatchObject({ event: 'data', device_type: 'weatherstation', device_id: 'ws-1' });
    expect(got[2].timestamp).toBe('2025-01-15T12:00:00.000Z');
    const ids = got.map((e) => BigInt(e.id));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    expect(new Set(ids).size).toBe(4);
  });

  type Reject = RejectsAnswer['rejects'][number];
  interface BadInput {
    name: string;
    /** Levels after the prefix. */
    levels: string;
    payload: string | Buffer;
    reason: string;
    /** What GET /admin/rejects must show of it, beyond topic and reason. */
    kept?: Partial<Reject>;
  }
  const cases: BadInput[] = [
    {
      name: 'text that is not JSON',
      levels: 'weatherstation/ws-2/data',
      payload: 'not json {',
      reason: 'not_json',
      kept: { payload: 'not json {', payload_encoding: 'utf8' },
    },
    {
      name: 'bytes that are not UTF-8',
      levels: 'weatherstation/ws-2/data',
      payload: Buffer.from([0xff, 0x00, 0xfe]),
      reason: 'not_json',
      kept: { payload: Buffer.from([0xff, 0x00, 0xfe]).toString('base64'), payload_encoding: 'base64' },
    },
    { name: 'a JSON array', levels: 'weatherstation/ws-2/data', payload: '[1, 2]', reason: 'not_object' },
    { name: 'JSON null as a status', levels: 'weatherstation/ws-2/status', payload: 'null', reason: 'not_object' },
    {
      name: 'a payload over MAX_MESSAGE_SIZE (kept capped)',
      levels: 'weatherstation/ws-2/data',
      payload: JSON.stringify({ temperature: 'x'.repeat(5000) }),
      reason: 'oversized',
    },
    {
      name: 'a type not declared while undeclared types are refused',
      levels: 'toaster/t-1/data',
      payload: JSON.stringify({ crumbs: 3 }),
      reason: 'undeclared_type',
    },
    {
      name: 'a reading out of its range',
      levels: 'weatherstation/ws-2/data',
      payload: JSON.stringify({ temperature: 900 }),
      reason: 'schema_violation',
      kept: { detail: expect.stringContaining('temperature') as string },
    },
    {
      name: 'a reading of the wrong type',
      levels: 'weatherstation/ws-2/data',
      payload: JSON.stringify({ temperature: 'warm' }),
      reason: 'schema_violation',
      kept: { detail: expect.stringContaining('temperature') as string },
    },
    {
      name: 'a reading the type does not declare',
      levels: 'weatherstation/ws-2/data',
      payload: JSON.stringify({ humidty: 3 }),
      reason: 'schema_violation',
      kept: { detail: expect.stringContaining('humidty') as string },
    },
    {
      name: 'a topic of an unknown kind',
      levels: 'weatherstation/ws-2/bogus',
      payload: '{}',
      reason: 'malformed_topic',
    },
    { name: 'a topic with too few levels', levels: 'weatherstation/data', payload: '{}', reason: 'malformed_topic' },
    {
      name: 'a topic with too many levels',
      levels: 'weatherstation/ws-2/data/extra',
      payload: '{}',
      reason: 'malformed_topic',
    },
  ];

  it.each(cases.map((c, i) => ({ ...c, i })))(
    'counts, keeps and drops $name, and the next good message still arrives',
    async ({ levels, payload, reason, kept, i }) => {
      const topic = `${prefix}/${levels}`;
      const before = (await rejects()).counts[reason] ?? 0;
      const good = await next(`ok-${i}`, 1);
      await send(topic, payload);
      await send(`${prefix}/weatherstation/ok-${i}/data`, JSON.stringify({ temperature: i }));
      expect((await good())[0].data).toEqual({ temperature: i });

      const res = await fetch(`${app.url}/admin/rejects?reason=${reason}&limit=1`, {
        headers: { Authorization: `Bearer ${app.adminToken}` },
      });
      expect(res.status).toBe(200);
      const after = (await res.json()) as RejectsAnswer;
      expect(after.counts[reason]).toBe(before + 1);
      const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
      const shown = after.rejects[0];
      expect(shown).toMatchObject({ topic, reason, detail: expect.any(String), payload_size: size, ...kept });
      // The raw payload is kept whole up to 4 KiB, capped beyond.
      if (size > 4096) expect(shown.payload).toHaveLength(4096);
      else if (shown.payload_encoding === 'utf8') expect(shown.payload).toBe(payload);
    },
  );

  it('never registers a device of a refused type', async () => {
    await send(`${prefix}/toaster/t-2/status`, JSON.stringify({ status: 'online' }));
    await waitFor(
      async () =>
        (await rejects()).rejects.some((r) => r.topic === `${prefix}/toaster/t-2/status`) ? true : undefined,
      'the refused status in GET /admin/rejects',
    );
    const unknown = await fetch(`${app.url}/api/devices/toaster/t-2`, {
      headers: { Authorization: `Bearer ${app.clientToken}` },
    });
    expect(unknown.status).toBe(404);
  });

  it('answers 400 naming a bad reason filter and 401 without the admin token', async () => {
    const bad = await fetch(`${app.url}/admin/rejects?reason=nope&limit=0`, {
      headers: { Authorization: `Bearer ${app.adminToken}` },
    });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { fields: Record<string, string> };
    expect(Object.keys(body.fields).sort()).toEqual(['limit', 'reason']);
    const anonymous = await fetch(`${app.url}/admin/rejects`);
    expect(anonymous.status).toBe(401);
  });

  it('keeps serving other devices while one floods garbage', async () => {
    const good = await next('ws-3', 20);
    const flood: Promise<unknown>[] = [];
    for (let i = 0; i < 500; i++) flood.push(send(`${prefix}/weatherstation/ws-flood/data`, `garbage ${i}`));
    for (let i = 0; i < 20; i++)
      flood.push(send(`${prefix}/weatherstation/ws-3/data`, JSON.stringify({ temperature: i })));
    await Promise.all(flood);
    expect((await good()).map((e) => e.data.temperature)).toEqual([...Array(20).keys()]);
  });
});

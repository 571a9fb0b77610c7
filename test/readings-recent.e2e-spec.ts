import type mqtt from 'mqtt';
import type { RecentReadingsAnswer } from '../src/devices/recent-readings';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { waitFor } from './support/wait';
import { clientToken, connectDevice } from './support/web-clients';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * `GET /api/readings/recent` (issue #19): many devices' last samples in one
 * request, as the console's device table asks for its sparklines.
 */
describe('recent readings of many devices', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let token: string;

  const get = async (query: string, bearer = token): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${app.url}/api/readings/recent?${query}`, {
      headers: { Authorization: `Bearer ${bearer}` },
    });
    return { status: res.status, body: await res.json() };
  };
  const publish = (type: string, id: string, data: Record<string, unknown>, ts: number): Promise<unknown> =>
    device.publishAsync(
      `${app.config.mqtt.topicPrefix}/${type}/${id}/data`,
      JSON.stringify({ ...data, timestamp: iso(ts) }),
      { qos: 1 },
    );

  beforeAll(async () => {
    app = await bootApp();
    token = clientToken(app);
    device = await connectDevice(app, `recent-${process.pid}`);
    // ws/a: 40 samples of two readings, sent newest first to show the answer is ordered by time, not arrival.
    for (let i = 39; i >= 0; i--) await publish('ws', 'a', { temperature: i, humidity: 100 + i }, T0 + i * 1000);
    // ws/b: 3 samples; pump/p1: only text readings; ws/c: mixed, the first numeric name wins.
    for (let i = 0; i < 3; i++) await publish('ws', 'b', { temperature: 50 + i }, T0 + i * 1000);
    await publish('pump', 'p1', { mode: 'eco' }, T0);
    await publish('ws', 'c', { alpha: 'text', beta: 7, gamma: 9 }, T0);
    await waitFor(async () => {
      const { body } = await get('devices=ws/a+ws/b+pump/p1+ws/c&limit=100');
      const devices = (body as RecentReadingsAnswer).devices ?? [];
      const counts = devices.map((d) => d.readings.length);
      return devices.length === 4 && counts[0] === 40 && counts[1] === 3 && counts[3] === 1 ? true : undefined;
    }, 'every sample stored');
  }, 60_000);

  afterAll(async () => {
    await device?.endAsync();
    await app?.stop();
  });

  it("answers each device's last samples of its first numeric reading, oldest first, in the order asked", async () => {
    const { status, body } = await get('devices=ws/b+ws/a+pump/p1+ws/c&limit=5');
    expect(status).toBe(200);
    expect(body).toEqual({
      limit: 5,
      devices: [
        {
          device_type: 'ws',
          device_id: 'b',
          reading: 'temperature',
          readings: [0, 1, 2].map((i) => ({ timestamp: iso(T0 + i * 1000), value: 50 + i })),
        },
        {
          // `humidity` sorts before `temperature`.
          device_type: 'ws',
          device_id: 'a',
          reading: 'humidity',
          readings: [35, 36, 37, 38, 39].map((i) => ({ timestamp: iso(T0 + i * 1000), value: 100 + i })),
        },
        { device_type: 'pump', device_id: 'p1', reading: null, readings: [] },
        { device_type: 'ws', device_id: 'c', reading: 'beta', readings: [{ timestamp: iso(T0), value: 7 }] },
      ],
    });
  });

  it('answers 30 samples by default, and leaves out unknown devices and devices given twice', async () => {
    const { status, body } = await get(`devices=${encodeURIComponent('ws/a ws/nobody ws/a')}`);
    expect(status).toBe(200);
    const answer = body as RecentReadingsAnswer;
    expect(answer.limit).toBe(30);
    expect(answer.devices.map((d) => `${d.device_type}/${d.device_id}`)).toEqual(['ws/a']);
    expect(answer.devices[0].readings.map((r) => r.value)).toEqual(Array.from({ length: 30 }, (_, i) => 110 + i));
  });

  it("answers only the devices the token's channel claims allow", async () => {
    const prefix = app.config.mqtt.topicPrefix;
    const narrow = clientToken(app, { channels: [`${prefix}/ws/b/status`, `${prefix}/pump/*/data`] });
    const { status, body } = await get('devices=ws/a+ws/b+pump/p1', narrow);
    expect(status).toBe(200);
    expect((body as RecentReadingsAnswer).devices.map((d) => `${d.device_type}/${d.device_id}`)).toEqual([
      'ws/b',
      'pump/p1',
    ]);
    const none = clientToken(app, { channels: [`${prefix}/other/**`] });
    expect((await get('devices=ws/a', none)).body).toEqual({ limit: 30, devices: [] });
    expect((await get('devices=ws/a', 'not-a-token')).status).toBe(401);
  });

  it('refuses bad input with a 400 naming the field, and keeps serving', async () => {
    const tooMany = Array.from({ length: 201 }, (_, i) => `ws/d${i}`).join('+');
    const cases: [string, string][] = [
      ['', 'devices'],
      ['devices=', 'devices'],
      ['devices=ws', 'devices'],
      ['devices=ws/a/b', 'devices'],
      ['devices=/a', 'devices'],
      [`devices=${tooMany}`, 'devices'],
      ['devices=ws/a&limit=0', 'limit'],
      ['devices=ws/a&limit=101', 'limit'],
      ['devices=ws/a&limit=1e1', 'limit'],
      ['devices=ws/a&devices=ws/b', 'devices'],
    ];
    for (const [query, field] of cases) {
      const { status, body } = await get(query);
      expect({ query, status }).toEqual({ query, status: 400 });
      expect(Object.keys((body as { fields: Record<string, string> }).fields)).toEqual([field]);
    }
    const { status, body } = await get('devices=ws/a+ws/b&limit=100');
    expect(status).toBe(200);
    expect((body as RecentReadingsAnswer).devices.map((d) => d.readings.length)).toEqual([40, 3]);
    const exactly200 = Array.from({ length: 200 }, (_, i) => `ws/d${i}`).join('+');
    expect((await get(`devices=${exactly200}`)).status).toBe(200);
  });
});

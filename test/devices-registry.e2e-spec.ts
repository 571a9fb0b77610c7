import mqtt from 'mqtt';
import { TokenService } from '../src/auth/token.service';
import type { BucketView, DeviceView, ReadingView } from '../src/devices/devices.dto';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { waitFor } from './support/wait';
import { listenWs } from './support/web-clients';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();

/** Every answer of the devices endpoints, loosely: each test reads the fields it asserts. */
interface Answer {
  devices: DeviceView[];
  total: number;
  readings: ReadingView[];
  buckets: BucketView[];
  [field: string]: unknown;
}

describe('device registry and readings over MQTT and REST', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let prefix: string;

  beforeAll(async () => {
    app = await bootApp();
    prefix = app.config.mqtt.topicPrefix;
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `dev-registry-${process.pid}` });
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
  });

  const get = (path: string, token: string | null = app.clientToken): Promise<Response> =>
    fetch(`${app.url}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const json = async (path: string, token?: string | null): Promise<Answer> => {
    const res = await get(path, token);
    expect(res.status).toBe(200);
    return (await res.json()) as Answer;
  };
  const send = (type: string, id: string, kind: string, body: unknown): Promise<unknown> =>
    device.publishAsync(`${prefix}/${type}/${id}/${kind}`, JSON.stringify(body), { qos: 1 });
  /** Resolves with the device once the registry shows what `ready` looks for. */
  const deviceWhen = (type: string, id: string, ready: (d: DeviceView) => boolean): Promise<DeviceView> =>
    waitFor(async () => {
      const res = await get(`/api/devices/${type}/${id}`);
      if (res.status !== 200) return undefined;
      const d = (await res.json()) as DeviceView;
      return ready(d) ? d : undefined;
    }, `${type}/${id} in the registry`);

  it('refuses every devices endpoint without a token with 401 and a JSON error', async () => {
    for (const path of ['/api/devices', '/api/devices/ws/ws-001', '/api/devices/ws/ws-001/readings']) {
      const res = await get(path, null);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'missing_token', message: expect.any(String) });
    }
    const bad = await get('/api/devices', 'not-a-jwt');
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: 'invalid_token' });
  });

  it('registers a device on its first status, with battery and firmware, and emits a status event from null', async () => {
    const statuses = await listenWs(app, 'weatherstation', 'ws-001', ['status']);
    const before = Date.now();
    await send('weatherstation', 'ws-001', 'status', {
      status: 'online',
      battery_level: 85.5,
      firmware_version: '2.1.0',
    });
    const d = await deviceWhen('weatherstation', 'ws-001', () => true);
    expect(d).toEqual({
      device_type: 'weatherstation',
      device_id: 'ws-001',
      status: 'online',
      first_seen: expect.any(String),
      last_seen: expect.any(String),
      battery_level: 85.5,
      firmware_version: '2.1.0',
      latest_readings: {},
    });
    expect(Date.parse(d.last_seen)).toBeGreaterThanOrEqual(before - 1000);
    const [statusEvent] = await statuses.waitForEvents(1);
    statuses.close();
    expect(statusEvent.data).toEqual({
      old_status: null,
      new_status: 'online',
      battery_level: 85.5,
      firmware_version: '2.1.0',
    });
  });

  it('keeps the latest value of each reading with its time, and moves last_seen', async () => {
    await send('weatherstation', 'ws-002', 'data', { temperature: 25.3, humidity: 80.1 });
    const first = await deviceWhen('weatherstation', 'ws-002', (d) => d.latest_readings.humidity !== undefined);
    expect(first.status).toBe('online');
    expect(first.latest_readings.temperature).toEqual({ value: 25.3, timestamp: first.last_seen });
    const later = new Date(Date.parse(first.last_seen) + 1000).toISOString();
    await send('weatherstation', 'ws-002', 'data', { temperature: 26, timestamp: later });
    const second = await deviceWhen('weatherstation', 'ws-002', (d) => d.latest_readings.temperature.value === 26);
    expect(second.latest_readings).toEqual({
      temperature: { value: 26, timestamp: later },
      humidity: first.latest_readings.humidity,
    });
    expect(Date.parse(second.last_seen)).toBeGreaterThanOrEqual(Date.parse(first.last_seen));
    // A late sample (a batch flushed after a network outage) is stored but does not replace a newer latest value.
    await send('weatherstation', 'ws-002', 'data', { temperature: 20, timestamp: '2025-01-15T12:00:00.000Z' });
    await send('weatherstation', 'ws-002', 'data', { humidity: 70, timestamp: later });
    const third = await deviceWhen('weatherstation', 'ws-002', (d) => d.latest_readings.humidity.value === 70);
    expect(third.latest_readings.temperature).toEqual({ value: 26, timestamp: later });
  });

  it('follows status changes in order: the status event carries the status before', async () => {
    const statuses = await listenWs(app, 'weatherstation', 'ws-003', ['status']);
    await send('weatherstation', 'ws-003', 'status', { status: 'online' });
    await send('weatherstation', 'ws-003', 'status', { status: 'maintenance' });
    await send('weatherstation', 'ws-003', 'status', { status: 'error', battery_level: 12 });
    const events = await statuses.waitForEvents(3);
    statuses.close();
    expect(events.map((e) => [e.data.old_status, e.data.new_status])).toEqual([
      [null, 'online'],
      ['online', 'maintenance'],
      ['maintenance', 'error'],
    ]);
    const d = await deviceWhen('weatherstation', 'ws-003', (x) => x.status === 'error');
    expect(d.battery_level).toBe(12);
  });

  it('lists devices sorted, filtered by type and status', async () => {
    await send('camera', 'cam-1', 'status', { status: 'maintenance' });
    await deviceWhen('camera', 'cam-1', () => true);
    await deviceWhen('weatherstation', 'ws-003', (x) => x.status === 'error');
    const all = await json('/api/devices');
    const ids = all.devices.map((d) => `${d.device_type}/${d.device_id}`);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(['camera/cam-1', 'weatherstation/ws-001', 'weatherstation/ws-003']));
    expect(all.total).toBe(ids.length);
    const cams = await json('/api/devices?device_type=camera');
    expect(cams.devices.map((d) => d.device_id)).toEqual(['cam-1']);
    const errored = await json('/api/devices?status=error');
    expect(errored.devices.map((d) => d.device_id)).toEqual(['ws-003']);
    const page = await json('/api/devices?limit=1&offset=1');
    expect(page).toEqual({ devices: [all.devices[1]], total: all.total });
  });

  it('answers 404 unknown_device for a device never heard of', async () => {
    for (const path of ['/api/devices/weatherstation/nobody', '/api/devices/nobody/ws-001/readings']) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: 'unknown_device', message: expect.any(String) });
    }
  });

  it('shows a token only the devices its channels claim allows; others are unknown', async () => {
    await deviceWhen('weatherstation', 'ws-001', () => true);
    await deviceWhen('camera', 'cam-1', () => true);
    const tokens = app.app.get(TokenService);
    const statusOnly = tokens.mint({ peerId: 'p1', channels: [`${prefix}/weatherstation/ws-001/status`] }).token;
    const cameras = tokens.mint({ peerId: 'p2', channels: [`${prefix}/camera/*/data`] }).token;
    const cmdOnly = tokens.mint({ peerId: 'p3', channels: [`${prefix}/camera/*/cmd`] }).token;
    expect((await json('/api/devices', statusOnly)).devices.map((d) => d.device_id)).toEqual(['ws-001']);
    expect((await json('/api/devices', cameras)).devices.map((d) => d.device_id)).toEqual(['cam-1']);
    expect(await json('/api/devices', cmdOnly)).toEqual({ devices: [], total: 0 });
    expect((await get('/api/devices/weatherstation/ws-001', statusOnly)).status).toBe(200);
    const hidden = await get('/api/devices/camera/cam-1', statusOnly);
    expect(hidden.status).toBe(404);
    expect(await hidden.json()).toMatchObject({ error: 'unknown_device' });
    expect((await get('/api/devices/camera/cam-1/readings', statusOnly)).status).toBe(404);
  });

  describe('readings history', () => {
    const samples = [
      { temperature: 10, door: 'open', timestamp: iso(T0) },
      { temperature: 20, timestamp: iso(T0 + 30_000) },
      { temperature: 40, humidity: 50, timestamp: iso(T0 + 60_000) },
      { temperature: 60, timestamp: iso(T0 + 150_000) },
    ];
    const path = '/api/devices/weatherstation/ws-hist/readings';

    beforeAll(async () => {
      await send('weatherstation', 'ws-hist', 'data', { readings: samples });
      await waitFor(async () => {
        // 404 until the device's first message is in the log.
        const res = await get(path);
        const body = res.status === 200 ? ((await res.json()) as Answer) : undefined;
        return body?.readings.length === 6 ? body : undefined;
      }, 'six readings stored');
    });

    it('answers one row per sample per reading, oldest first, numbers and other values alike', async () => {
      expect(await json(path)).toEqual({
        device_type: 'weatherstation',
        device_id: 'ws-hist',
        readings: [
          // Same-time samples keep the order the device sent them in.
          { timestamp: iso(T0), name: 'temperature', value: 10 },
          { timestamp: iso(T0), name: 'door', value: 'open' },
          { timestamp: iso(T0 + 30_000), name: 'temperature', value: 20 },
          { timestamp: iso(T0 + 60_000), name: 'temperature', value: 40 },
          { timestamp: iso(T0 + 60_000), name: 'humidity', value: 50 },
          { timestamp: iso(T0 + 150_000), name: 'temperature', value: 60 },
        ],
      });
    });

    it('narrows by start and end (ISO or epoch ms), by reading, and keeps the latest rows under a limit', async () => {
      const ranged = await json(`${path}?start=${iso(T0 + 30_000)}&end=${T0 + 60_000}&reading=temperature`);
      expect(ranged.readings.map((r) => r.value)).toEqual([20, 40]);
      const latest = await json(`${path}?reading=temperature&limit=2`);
      expect(latest.readings.map((r) => r.value)).toEqual([40, 60]);
      const fromStart = await json(`${path}?reading=temperature&limit=2&start=${T0}`);
      expect(fromStart.readings.map((r) => r.value)).toEqual([10, 20]);
    });

    it('buckets per interval with avg, min, max and count', async () => {
      const avg = await json(`${path}?interval=1m&agg=avg&reading=temperature`);
      expect(avg).toEqual({
        device_type: 'weatherstation',
        device_id: 'ws-hist',
        interval: '1m',
        agg: 'avg',
        buckets: [
          { timestamp: iso(T0), name: 'temperature', value: 15 },
          { timestamp: iso(T0 + 60_000), name: 'temperature', value: 40 },
          { timestamp: iso(T0 + 120_000), name: 'temperature', value: 60 },
        ],
      });
      const max = await json(`${path}?interval=2m&agg=max&reading=temperature`);
      expect(max.buckets.map((b) => [b.timestamp, b.value])).toEqual([
        [iso(T0), 40],
        [iso(T0 + 120_000), 60],
      ]);
      const min = await json(`${path}?interval=1h&agg=min`);
      expect(min.buckets).toEqual([
        { timestamp: iso(T0), name: 'humidity', value: 50 },
        { timestamp: iso(T0), name: 'temperature', value: 10 },
      ]);
      const count = await json(`${path}?interval=1m&agg=count&end=${iso(T0 + 59_999)}`);
      expect(count.buckets).toEqual([
        { timestamp: iso(T0), name: 'door', value: 1 },
        { timestamp: iso(T0), name: 'temperature', value: 2 },
      ]);
    });

    it('answers 400 naming each bad parameter, and serves the next good request', async () => {
      const res = await get(`${path}?start=yesterday&limit=20000&interval=5x&agg=median`);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; fields: Record<string, string> };
      expect(body.error).toBe('invalid_request');
      expect(Object.keys(body.fields).sort()).toEqual(['agg', 'interval', 'limit', 'start']);
      const aggAlone = await get(`${path}?agg=avg`);
      expect(aggAlone.status).toBe(400);
      expect(((await aggAlone.json()) as { fields: unknown }).fields).toEqual({
        agg: expect.stringContaining('interval'),
      });
      expect((await json(`${path}?limit=1`)).readings).toHaveLength(1);
    });
  });
});

describe('devices with AUTH=off', () => {
  it('opens the read endpoints without a token', async () => {
    const app = await bootApp({ AUTH: 'off' });
    try {
      const res = await fetch(`${app.url}/api/devices`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ devices: [], total: 0 });
    } finally {
      await app.stop();
    }
  });
});

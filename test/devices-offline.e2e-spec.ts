import mqtt from 'mqtt';
import type { DeviceView, ReadingView } from '../src/devices/devices.dto';
import type { Storage, TestApp } from './support/app';
import { bootApp, declareTypes, freshStorage } from './support/app';
import { listenWs } from './support/web-clients';
import { waitFor } from './support/wait';

/** A type with a 0.4 s heartbeat: offline after 1 s of silence. */
function declareBlinky(storage: Storage): string {
  const path = declareTypes(storage, {
    accept_undeclared: true,
    types: { blinky: { heartbeat_interval: 0.4, readings: { t: { type: 'number' } }, commands: {} } },
  });
  return path;
}

/** A device (or its readings) as the REST API answers, or undefined when it does not (yet). */
async function getJson<T = DeviceView>(app: TestApp, path: string): Promise<T | undefined> {
  const res = await fetch(`${app.url}${path}`, { headers: { Authorization: `Bearer ${app.clientToken}` } });
  return res.status === 200 ? ((await res.json()) as T) : undefined;
}

describe('offline sweep and last wills', () => {
  let storage: Storage;
  let app: TestApp;
  let prefix: string;

  beforeAll(async () => {
    storage = await freshStorage();
    app = await bootApp({ DEVICE_TYPES: declareBlinky(storage) }, storage);
    prefix = app.config.mqtt.topicPrefix;
  });
  afterAll(async () => {
    await app.stop();
    await storage.dispose();
  });

  it('marks a silent device offline after 2.5 heartbeats with a status event, and back online when it speaks', async () => {
    const statuses = await listenWs(app, 'blinky', 'b-1', ['status']);
    const device = await mqtt.connectAsync(app.mqttUrl, { clientId: `blinky-1-${process.pid}` });
    try {
      await device.publishAsync(`${prefix}/blinky/b-1/status`, JSON.stringify({ status: 'online' }), { qos: 1 });
      const heardAt = Date.now();
      const offline = await waitFor(
        async () => {
          const d = await getJson(app, '/api/devices/blinky/b-1');
          return d?.status === 'offline' ? d : undefined;
        },
        'b-1 offline',
        5000,
      );
      // Not before 1 s of silence (0.4 s x 2.5).
      expect(Date.now() - heardAt).toBeGreaterThanOrEqual(900);
      expect(offline.last_seen).toEqual(expect.any(String));
      await device.publishAsync(`${prefix}/blinky/b-1/data`, JSON.stringify({ t: 1 }), { qos: 1 });
      const events = await statuses.waitForEvents(3);
      expect(events.map((e) => e.data)).toEqual([
        { old_status: null, new_status: 'online' },
        { old_status: 'online', new_status: 'offline', reason: 'heartbeat_timeout', last_seen: offline.last_seen },
        { old_status: 'offline', new_status: 'online', reason: 'activity' },
      ]);
      expect(Number(events[1].id)).toBeLessThan(Number(events[2].id));
      expect((await getJson(app, '/api/devices/blinky/b-1'))?.status).toBe('online');
    } finally {
      statuses.close();
      await device.endAsync();
    }
  });

  it('keeps a device that keeps talking online', async () => {
    const device = await mqtt.connectAsync(app.mqttUrl, { clientId: `blinky-2-${process.pid}` });
    try {
      let n = 0;
      const talk = () => device.publishAsync(`${prefix}/blinky/b-2/data`, JSON.stringify({ t: n++ }), { qos: 1 });
      await talk();
      // Registered first: a device that never shows up must fail this test, not pass it.
      await waitFor(() => getJson(app, '/api/devices/blinky/b-2'), 'b-2 registered');
      // Talking every 0.2 s for 2.5 s, well past the 1 s it takes a silent one to go offline.
      const deadline = Date.now() + 2500;
      while (Date.now() < deadline) {
        await talk();
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect((await getJson(app, '/api/devices/blinky/b-2'))?.status).toBe('online');
      }
      await waitFor(async () => {
        const d = await getJson(app, '/api/devices/blinky/b-2');
        return d?.latest_readings.t?.value === n - 1 ? d : undefined;
      }, 'the last reading of b-2');
    } finally {
      await device.endAsync();
    }
  });

  it("takes a last will's offline status, with the status before it", async () => {
    const statuses = await listenWs(app, 'sensor', 'lw-1', ['status']);
    const device = await mqtt.connectAsync(app.mqttUrl, {
      clientId: `lastwill-${process.pid}`,
      will: {
        topic: `${prefix}/sensor/lw-1/status`,
        payload: Buffer.from(JSON.stringify({ status: 'offline' })),
        qos: 1,
        retain: false,
      },
    });
    await device.publishAsync(`${prefix}/sensor/lw-1/status`, JSON.stringify({ status: 'online' }), { qos: 1 });
    await waitFor(
      async () => ((await getJson(app, '/api/devices/sensor/lw-1'))?.status === 'online' ? true : undefined),
      'lw-1 online',
    );
    // Drop the connection without DISCONNECT: the broker publishes the will.
    device.stream.destroy();
    expect((await statuses.waitForEvents(2)).map((e) => e.data)).toEqual([
      { old_status: null, new_status: 'online' },
      { old_status: 'online', new_status: 'offline' },
    ]);
    statuses.close();
    await waitFor(
      async () => ((await getJson(app, '/api/devices/sensor/lw-1'))?.status === 'offline' ? true : undefined),
      'lw-1 offline',
    );
    device.end(true);
  });
});

describe('restart', () => {
  it('comes back with the registry and the readings history', async () => {
    const storage = await freshStorage();
    try {
      const first = await bootApp({}, storage);
      const prefix = first.config.mqtt.topicPrefix;
      const device = await mqtt.connectAsync(first.mqttUrl, { clientId: `restart-${process.pid}` });
      await device.publishAsync(
        `${prefix}/weatherstation/ws-r/status`,
        JSON.stringify({ status: 'maintenance', battery_level: 42, firmware_version: '3.0.1' }),
        { qos: 1 },
      );
      await device.publishAsync(
        `${prefix}/weatherstation/ws-r/data`,
        JSON.stringify({ temperature: 19.5, timestamp: '2025-01-15T12:00:00.000Z' }),
        { qos: 1 },
      );
      await device.endAsync();
      const before = await waitFor(async () => {
        const d = await getJson(first, '/api/devices/weatherstation/ws-r');
        return d?.latest_readings.temperature ? d : undefined;
      }, 'ws-r registered with its reading');
      await first.stop();

      const second = await bootApp({}, storage);
      try {
        expect(await getJson(second, '/api/devices/weatherstation/ws-r')).toEqual(before);
        expect(before).toMatchObject({ status: 'maintenance', battery_level: 42, firmware_version: '3.0.1' });
        expect(
          (await getJson<{ readings: ReadingView[] }>(second, '/api/devices/weatherstation/ws-r/readings'))?.readings,
        ).toEqual([{ timestamp: '2025-01-15T12:00:00.000Z', name: 'temperature', value: 19.5 }]);
        // Status keeps counting from what was stored.
        const next = await listenWs(second, 'weatherstation', 'ws-r', ['status']);
        const again = await mqtt.connectAsync(second.mqttUrl, { clientId: `restart2-${process.pid}` });
        await again.publishAsync(
          `${second.config.mqtt.topicPrefix}/weatherstation/ws-r/status`,
          JSON.stringify({ status: 'online' }),
          { qos: 1 },
        );
        await again.endAsync();
        const [status] = await next.waitForEvents(1);
        next.close();
        expect(status.data).toMatchObject({ old_status: 'maintenance', new_status: 'online' });
      } finally {
        await second.stop();
      }
    } finally {
      await storage.dispose();
    }
  });
});

import mqtt from 'mqtt';
import { MIGRATIONS } from '../src/database/migrations';
import { ReadingsDeviceKey1700000006000 } from '../src/database/migrations/1700000006000-readings-device-key';
import type { ReadingView } from '../src/devices/devices.dto';
import type { TestApp } from './support/app';
import { backends, bootApp, freshStorage, openDatabase } from './support/app';
import { waitFor } from './support/wait';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();
const postgres = backends.databaseUrl?.startsWith('postgres') ?? false;

/**
 * Readings as the device sent them, on the database the suite runs on:
 * SQLite through the writer thread, PostgreSQL through COPY.
 */
describe('readings storage', () => {
  let app: TestApp | undefined;
  let device: mqtt.MqttClient | undefined;
  afterEach(async () => {
    await device?.endAsync();
    await app?.stop();
    device = app = undefined;
  });

  const readings = async (type: string, id: string, count: number): Promise<ReadingView[]> =>
    waitFor(async () => {
      const res = await fetch(`${app!.url}/api/devices/${type}/${id}/readings`, {
        headers: { Authorization: `Bearer ${app!.clientToken}` },
      });
      if (res.status !== 200) return undefined;
      const body = (await res.json()) as { readings: ReadingView[] };
      return body.readings.length >= count ? body.readings : undefined;
    }, `${count} readings of ${type}/${id}`);

  it('stores names and text values with tabs, newlines, backslashes and quotes as they were sent', async () => {
    app = await bootApp();
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `readings-store-${process.pid}` });
    const odd = {
      'tab\tname': 'two\nlines',
      'back\\slash': 'C:\\dir\\file "quoted"',
      '\\N': '\\N',
      'crlf\r\n': 1.5,
      plain: { nested: ['a\tb', null] },
      timestamp: iso(T0),
    };
    await device.publishAsync(`${app.config.mqtt.topicPrefix}/ws/odd-1/data`, JSON.stringify(odd), { qos: 1 });
    // A second device after it: the odd message neither failed its batch nor stopped the one after.
    await device.publishAsync(
      `${app.config.mqtt.topicPrefix}/ws/odd-2/data`,
      JSON.stringify({ temperature: 20, timestamp: iso(T0) }),
      { qos: 1 },
    );
    expect(await readings('ws', 'odd-2', 1)).toEqual([{ timestamp: iso(T0), name: 'temperature', value: 20 }]);
    const stored = await readings('ws', 'odd-1', 5);
    const { timestamp: _timestamp, ...values } = odd;
    expect(Object.fromEntries(stored.map((r) => [r.name, r.value]))).toEqual(values);
  });

  it('replaces NUL in a reading name with U+FFFD on PostgreSQL, keeps it on SQLite, and stores the rest', async () => {
    app = await bootApp();
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `readings-nul-${process.pid}` });
    await device.publishAsync(
      `${app.config.mqtt.topicPrefix}/ws/nul-1/data`,
      JSON.stringify({ 'a\u0000b': 1, ok: 2, timestamp: iso(T0) }),
      { qos: 1 },
    );
    const stored = await readings('ws', 'nul-1', 2);
    expect(stored.map((r) => r.name).sort()).toEqual([postgres ? 'a\ufffdb' : 'a\u0000b', 'ok']);
  });

  it('upgrades a database written before readings had device keys, and keeps its readings', async () => {
    const storage = await freshStorage();
    try {
      const old = openDatabase(storage, MIGRATIONS.slice(0, MIGRATIONS.indexOf(ReadingsDeviceKey1700000006000)));
      await old.initialize();
      await old.runMigrations();
      await old.query(
        `INSERT INTO devices (device_type, device_id, status, first_seen, last_seen, latest_readings) VALUES ('ws', 'old-1', 'online', ${T0}, ${T0}, '{}')`,
      );
      await old.query(
        `INSERT INTO readings (device_type, device_id, name, value, ts) VALUES ('ws', 'old-1', 'temperature', 10, ${T0}), ('ws', 'old-1', 'temperature', 11, ${T0 + 1000})`,
      );
      await old.destroy();

      app = await bootApp({}, storage);
      device = await mqtt.connectAsync(app.mqttUrl, { clientId: `readings-upgrade-${process.pid}` });
      await device.publishAsync(
        `${app.config.mqtt.topicPrefix}/ws/old-1/data`,
        JSON.stringify({ temperature: 12, timestamp: iso(T0 + 2000) }),
        { qos: 1 },
      );
      expect((await readings('ws', 'old-1', 3)).map((r) => [r.timestamp, r.value])).toEqual([
        [iso(T0), 10],
        [iso(T0 + 1000), 11],
        [iso(T0 + 2000), 12],
      ]);
    } finally {
      await device?.endAsync();
      await app?.stop();
      device = app = undefined;
      await storage.dispose();
    }
  });
});

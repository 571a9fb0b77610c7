import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { BatchWriter } from '../database/batch-writer';
import type { WriteStatement } from '../database/batch-writer';
import { MIGRATIONS } from '../database/migrations';
import { ReadingsDeviceKey1700000006000 } from '../database/migrations/1700000006000-readings-device-key';
import { Device } from './device.entity';
import type { Samples } from './device-rows';
import type { ReadingRow, ReadingsRange } from './devices.repository';
import { SqliteDevicesRepository } from './sqlite-devices.repository';
import { Reading } from './reading.entity';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
/** One reading as a data event's samples. */
const row = (name: string, value: number | string, ts: number, deviceId = 'ws-1'): Samples => ({
  deviceType: 'ws',
  deviceId,
  ts,
  data: { [name]: value },
});
/** The same reading as it reads back. */
const stored = (name: string, value: number | string, ts: number, deviceId = 'ws-1'): ReadingRow => ({
  deviceType: 'ws',
  deviceId,
  name,
  value: typeof value === 'number' ? value : null,
  textValue: typeof value === 'number' ? null : JSON.stringify(value),
  ts,
});
const device = (deviceId: string, status: string): Device => ({
  deviceType: 'ws',
  deviceId,
  status,
  firstSeen: T0,
  lastSeen: T0 + 1000,
  batteryLevel: 80,
  firmwareVersion: '1.0',
  latestReadings: { temperature: { value: 21, timestamp: new Date(T0).toISOString() } },
});
const range = (over: Partial<ReadingsRange> = {}): ReadingsRange => ({
  deviceType: 'ws',
  deviceId: 'ws-1',
  limit: 1000,
  keep: 'earliest',
  ...over,
});

/** A BatchWriter with this config runs its jobs on the DataSource (no writer thread), whatever the file. */
const onDataSource = { database: { type: 'sqlite', path: ':memory:' } } as AppConfig;

/** The SQL runs on a real SQLite database built by the migrations; the e2e suite runs it on PostgreSQL too. */
describe('DevicesRepository', () => {
  let db: DataSource;
  let repo: SqliteDevicesRepository;

  beforeEach(async () => {
    db = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [Device, Reading],
      migrations: MIGRATIONS,
    });
    await db.initialize();
    await db.runMigrations();
    repo = new SqliteDevicesRepository(db, new BatchWriter(db, onDataSource));
  });
  afterEach(() => db.destroy());

  it('upserts devices and reads them back as they were', async () => {
    await repo.write([device('a', 'online'), device('b', 'online')], []);
    await repo.write([{ ...device('a', 'offline'), batteryLevel: null }], []);
    const loaded = (await repo.loadDevices()).sort((x, y) => x.deviceId.localeCompare(y.deviceId));
    expect(loaded).toEqual([{ ...device('a', 'offline'), batteryLevel: null }, device('b', 'online')]);
  });

  it('stores more readings than one statement holds, in one write', async () => {
    const rows = Array.from({ length: 2500 }, (_, i) => row('temperature', i, T0 + i));
    await repo.write([device('ws-1', 'online')], rows);
    const back = await repo.readings(range({ limit: 10000 }));
    expect(back).toHaveLength(2500);
    expect(back[2499]).toEqual(stored('temperature', 2499, T0 + 2499));
  });

  it('stores one row per defined value of a message, numbers as numbers and the rest as JSON', async () => {
    const data = { temperature: 21.5, state: 'idle', flags: [1, 2], off: false, gone: undefined, big: 1e21 };
    await repo.write([device('ws-1', 'online')], [{ deviceType: 'ws', deviceId: 'ws-1', ts: T0, data }]);
    const back = await repo.readings(range());
    expect(back.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      stored('big', 1e21, T0),
      { ...stored('flags', 'x', T0), textValue: '[1,2]' },
      { ...stored('off', 'x', T0), textValue: 'false' },
      stored('state', 'idle', T0),
      stored('temperature', 21.5, T0),
    ]);
  });

  it('answers a range oldest first, from the start or the most recent end, one reading or all', async () => {
    await repo.write(
      [device('ws-1', 'online'), device('other', 'online')],
      [
        row('temperature', 20, T0),
        row('humidity', 50, T0),
        row('temperature', 21, T0 + 1000),
        row('state', 'idle', T0 + 2000),
        row('temperature', 22, T0 + 3000),
        row('temperature', 99, T0 + 3000, 'other'),
      ],
    );
    expect((await repo.readings(range({ limit: 2 }))).map((r) => r.ts)).toEqual([T0, T0]);
    expect((await repo.readings(range({ limit: 2, keep: 'latest' }))).map((r) => r.ts)).toEqual([T0 + 2000, T0 + 3000]);
    expect(
      (await repo.readings(range({ startMs: T0 + 1000, endMs: T0 + 2000 }))).map((r) => r.value ?? r.textValue),
    ).toEqual([21, '"idle"']);
    expect((await repo.readings(range({ name: 'temperature' }))).map((r) => r.value)).toEqual([20, 21, 22]);
  });

  it('computes avg, min, max and count per reading per interval in SQL', async () => {
    const minute = 60_000;
    await repo.write(
      [device('ws-1', 'online')],
      [
        row('temperature', 10, T0),
        row('temperature', 20, T0 + 59_999),
        row('temperature', 40, T0 + minute),
        row('humidity', 50, T0 + 30_000),
        row('state', 'idle', T0 + 1000),
      ],
    );
    const at = (ms: number): number => ms;
    expect(await repo.buckets(range(), minute, 'avg')).toEqual([
      { start: at(T0), name: 'humidity', value: 50 },
      { start: at(T0), name: 'temperature', value: 15 },
      { start: at(T0 + minute), name: 'temperature', value: 40 },
    ]);
    expect((await repo.buckets(range({ name: 'temperature' }), minute, 'min')).map((b) => b.value)).toEqual([10, 40]);
    expect((await repo.buckets(range({ name: 'temperature' }), minute, 'max')).map((b) => b.value)).toEqual([20, 40]);
    // count counts every sample, numeric or not.
    expect(await repo.buckets(range({ endMs: T0 + 59_999 }), minute, 'count')).toEqual([
      { start: T0, name: 'humidity', value: 1 },
      { start: T0, name: 'state', value: 1 },
      { start: T0, name: 'temperature', value: 2 },
    ]);
    expect(await repo.buckets(range({ limit: 1, keep: 'latest' }), minute, 'avg')).toEqual([
      { start: T0 + minute, name: 'temperature', value: 40 },
    ]);
  });

  it('keeps devices apart by their keys, and goes on counting keys after a restart', async () => {
    await repo.write([device('a', 'online'), device('b', 'online')], [row('t', 1, T0, 'a'), row('t', 2, T0, 'b')]);
    // A new process on the same database: keys come from the table, new ones follow them.
    const restarted = new SqliteDevicesRepository(db, new BatchWriter(db, onDataSource));
    await restarted.loadDevices();
    await restarted.write([device('c', 'online')], [row('t', 3, T0, 'c'), row('t', 4, T0 + 1, 'a')]);
    const values = async (id: string): Promise<unknown[]> =>
      (await restarted.readings(range({ deviceId: id }))).map((r) => r.value);
    expect(await values('a')).toEqual([1, 4]);
    expect(await values('b')).toEqual([2]);
    expect(await values('c')).toEqual([3]);
    const keys = await db.query<{ device_key: number }[]>(`SELECT device_key FROM devices ORDER BY device_key`);
    expect(keys.map((k) => k.device_key)).toEqual([1, 2, 3]);
  });

  it('moves the stored projection with the write, in its transaction, from the position it was made after', async () => {
    expect(await repo.projected()).toBe(0);
    await repo.write([device('ws-1', 'online')], [row('temperature', 21, T0)], { after: 0, upTo: 5 });
    expect(await repo.projected()).toBe(5);
    await repo.write([device('ws-1', 'online')], [row('temperature', 22, T0 + 1)], { after: 5, upTo: 9 });
    expect(await repo.projected()).toBe(9);
    expect(await repo.readings(range())).toEqual([stored('temperature', 21, T0), stored('temperature', 22, T0 + 1)]);
  });

  it('shows a write whose commit went through before the writer thread died by its stored position', async () => {
    const writer = new BatchWriter(db, onDataSource);
    repo = new SqliteDevicesRepository(db, writer);
    // Device rows and readings go as `runLater` jobs (they ride with the event log's next job).
    const run = writer.runLater.bind(writer);
    jest.spyOn(writer, 'runLater').mockImplementationOnce(async (statements: WriteStatement[]) => {
      await run(statements);
      throw new Error('the SQLite writer thread exited with code 1');
    });
    const samples = [row('temperature', 21, T0), row('temperature', 22, T0 + 1)];
    await expect(repo.write([device('ws-1', 'online')], samples, { after: 0, upTo: 3 })).rejects.toThrow('exited');
    // What the device writer asks before a retry: the write is stored, so it is not made again.
    expect(await repo.projected()).toBe(3);
    expect(await repo.readings(range())).toEqual([stored('temperature', 21, T0), stored('temperature', 22, T0 + 1)]);
  });

  it('refuses readings of a device it has never written, naming the device', async () => {
    await expect(repo.write([], [row('t', 1, T0, 'ghost')])).rejects.toThrow(
      'reading of ws/ghost, a device never written',
    );
    expect(await repo.readings(range({ deviceId: 'ghost' }))).toEqual([]);
  });
});

describe('ReadingsDeviceKey migration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhb-migration-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const open = (migrations: typeof MIGRATIONS): DataSource =>
    new DataSource({
      type: 'better-sqlite3',
      database: join(dir, 'db.sqlite'),
      entities: [Device, Reading],
      migrations,
    });

  it('moves readings stored by type and id to their device key', async () => {
    const old = open(MIGRATIONS.slice(0, MIGRATIONS.indexOf(ReadingsDeviceKey1700000006000)));
    await old.initialize();
    await old.runMigrations();
    await old.query(
      `INSERT INTO devices (device_type, device_id, status, first_seen, last_seen, latest_readings) VALUES ('ws', 'old-1', 'online', 0, 0, '{}'), ('ws', 'old-2', 'online', 0, 0, '{}')`,
    );
    await old.query(
      `INSERT INTO readings (device_type, device_id, name, value, ts) VALUES ('ws', 'old-1', 't', 1, ${T0}), ('ws', 'old-2', 't', 2, ${T0}), ('ws', 'old-1', 't', 3, ${T0 + 1})`,
    );
    await old.destroy();

    const db = open(MIGRATIONS);
    await db.initialize();
    try {
      // This one and every later one.
      const ran = MIGRATIONS.slice(MIGRATIONS.indexOf(ReadingsDeviceKey1700000006000));
      expect((await db.runMigrations()).map((m) => m.name)).toEqual(ran.map((m) => m.name));
      const upgraded = new SqliteDevicesRepository(db, new BatchWriter(db, onDataSource));
      await upgraded.loadDevices();
      await upgraded.write([device('new', 'online')], [row('t', 9, T0, 'new')]);
      expect((await upgraded.readings(range({ deviceId: 'old-1' }))).map((r) => r.value)).toEqual([1, 3]);
      expect((await upgraded.readings(range({ deviceId: 'old-2' }))).map((r) => r.value)).toEqual([2]);
      expect((await upgraded.readings(range({ deviceId: 'new' }))).map((r) => r.value)).toEqual([9]);

      for (let n = 0; n < ran.length; n++) await db.undoLastMigration();
      const back = await db.query<{ device_id: string; value: number }[]>(
        `SELECT device_id, value FROM readings ORDER BY id`,
      );
      expect(back).toEqual([
        { device_id: 'old-1', value: 1 },
        { device_id: 'old-2', value: 2 },
        { device_id: 'old-1', value: 3 },
        { device_id: 'new', value: 9 },
      ]);
    } finally {
      await db.destroy();
    }
  });
});

import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BatchWriter } from '../database/batch-writer';
import { BulkInsert } from '../database/bulk-insert';
import type { BulkColumn } from '../database/bulk-insert';
import { CopyFields, copyField, copyIn, copyJson } from '../database/pg-copy';
import { Device } from './device.entity';
import { Reading } from './reading.entity';

/** One stored sample of one reading, as read back from the `readings` table. */
export interface ReadingRow {
  deviceType: string;
  deviceId: string;
  name: string;
  /** Numbers; null for other values. */
  value: number | null;
  /** Other values as JSON; null for numbers. */
  textValue: string | null;
  /** Sample time, ms since the epoch. */
  ts: number;
}

/**
 * A data event's samples on their way to the `readings` table: one row per
 * entry of `data` (undefined values skipped), all at `ts`. The writer keeps
 * the event's own `data` rather than a row object per sample: those lived
 * through several young-generation collections while a write ran, and
 * copying them cost ingestion more than writing them did.
 */
export interface Samples {
  deviceType: string;
  deviceId: string;
  /** Sample time, ms since the epoch. */
  ts: number;
  /** Reading name → value; numbers go to `value`, anything else to `text_value` as JSON. */
  data: Readonly<Record<string, unknown>>;
}

/** How many readings rows `data` makes. */
export function readingCount(data: Readonly<Record<string, unknown>>): number {
  let count = 0;
  for (const name of Object.keys(data)) if (data[name] !== undefined) count++;
  return count;
}

export type Aggregate = 'avg' | 'min' | 'max' | 'count';

export interface ReadingsRange {
  deviceType: string;
  deviceId: string;
  /** Inclusive bounds, ms since the epoch. */
  startMs?: number;
  endMs?: number;
  /** Only this reading. */
  name?: string;
  limit: number;
  /** Which end of the range to keep when it holds more than `limit` rows. */
  keep: 'earliest' | 'latest';
}

export interface Bucket {
  /** Bucket start, ms since the epoch. */
  start: number;
  name: string;
  value: number | null;
}

/** SQLite's readings columns (PostgreSQL gets the same ones by COPY). */
const READING_COLUMNS: BulkColumn[] = [
  { name: 'device_key', pgType: 'bigint' },
  { name: 'name', pgType: 'varchar' },
  { name: 'value', pgType: 'float8' },
  { name: 'text_value', pgType: 'text' },
  { name: 'ts', pgType: 'bigint' },
];
const READING_COLUMN_NAMES = READING_COLUMNS.map((c) => c.name);
const DEVICE_COLUMNS: BulkColumn[] = [
  { name: 'device_type', pgType: 'varchar' },
  { name: 'device_id', pgType: 'varchar' },
  { name: 'status', pgType: 'varchar' },
  { name: 'first_seen', pgType: 'bigint' },
  { name: 'last_seen', pgType: 'bigint' },
  { name: 'battery_level', pgType: 'float8' },
  { name: 'firmware_version', pgType: 'varchar' },
  { name: 'latest_readings', pgType: 'text' },
];
/** On a known device everything but its key and first sighting is replaced. */
const DEVICE_UPSERT = ` ON CONFLICT (device_type, device_id) DO UPDATE SET ${DEVICE_COLUMNS.map((c) => c.name)
  .filter((c) => !['device_type', 'device_id', 'first_seen'].includes(c))
  .map((c) => `${c} = excluded.${c}`)
  .join(', ')}`;
/** Rows per SQLite statement: 6 or 8 parameters each, far below SQLite's 32,766. */
const READINGS_PER_STATEMENT = 1000;
const DEVICES_PER_STATEMENT = 500;
const AGGREGATES: Record<Aggregate, string> = {
  avg: 'AVG(b.value)',
  min: 'MIN(b.value)',
  max: 'MAX(b.value)',
  count: 'COUNT(*)',
};

/**
 * Owns the `devices` and `readings` tables (STYLE.md: one class per outside system).
 *
 * A reading names its device by `devices.device_key`, a small integer. The
 * keys are kept here once read or made: on PostgreSQL the identity column
 * makes them (instances sharing the database agree through it); on SQLite,
 * which one process writes, they are counted here.
 */
@Injectable()
export class DevicesRepository {
  private readonly postgres: boolean;
  private readonly insertDevices: BulkInsert;
  private readonly insertReadings: BulkInsert;
  /** type → id → device_key, read from the table on first use. */
  private keys: Promise<Map<string, Map<string, number>>> | undefined;
  /** PostgreSQL: reading names in COPY form. */
  private readonly fields = new CopyFields();
  /** SQLite: the next key to hand out. */
  private nextKey = 1;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly writer: BatchWriter,
  ) {
    this.postgres = db.options.type === 'postgres';
    this.insertDevices = this.postgres
      ? new BulkInsert('devices', DEVICE_COLUMNS, true, `${DEVICE_UPSERT} RETURNING device_type, device_id, device_key`)
      : new BulkInsert(
          'devices',
          [...DEVICE_COLUMNS, { name: 'device_key', pgType: 'bigint' }],
          false,
          DEVICE_UPSERT,
          DEVICES_PER_STATEMENT,
        );
    this.insertReadings = new BulkInsert('readings', READING_COLUMNS, false, '', READINGS_PER_STATEMENT);
  }

  async loadDevices(): Promise<Device[]> {
    await this.deviceKeys();
    return this.db.getRepository(Device).find();
  }

  /**
   * Upserts the devices and appends the samples' readings in one transaction.
   * A sample's device must be among `devices` or have been written before.
   */
  async write(devices: readonly Device[], samples: readonly Samples[]): Promise<void> {
    const keys = await this.deviceKeys();
    if (this.postgres) return this.writePostgres(devices, samples, keys);
    const deviceValues: unknown[] = [];
    for (const d of devices) {
      let key = keys.get(d.deviceType)?.get(d.deviceId);
      if (key === undefined) setKey(keys, d.deviceType, d.deviceId, (key = this.nextKey++));
      deviceValues.push(...deviceRow(d), key);
    }
    const readingValues: unknown[] = [];
    const keyOf = keyLookup(keys);
    for (const s of samples) {
      const key = keyOf(s);
      for (const name of Object.keys(s.data)) {
        const value = s.data[name];
        if (value === undefined) continue;
        if (isNumber(value)) readingValues.push(key, name, value, null, s.ts);
        else readingValues.push(key, name, null, JSON.stringify(value), s.ts);
      }
    }
    const statements = [
      ...this.insertDevices.statements(deviceValues),
      ...this.insertReadings.statements(readingValues),
    ];
    if (statements.length > 0) await this.writer.run(statements);
  }

  /** The upsert returns each device's key; the readings then go in by COPY. */
  private async writePostgres(
    devices: readonly Device[],
    samples: readonly Samples[],
    keys: Map<string, Map<string, number>>,
  ): Promise<void> {
    if (devices.length === 0 && samples.length === 0) return;
    await this.db.transaction(async (tx) => {
      const runner = tx.queryRunner;
      if (!runner) throw new Error('transaction without a query runner');
      const deviceValues: unknown[] = [];
      for (const d of devices) deviceValues.push(...deviceRow(d));
      for (const { sql, params } of this.insertDevices.statements(deviceValues)) {
        const upserted = await runner.query(sql, params, true);
        for (const row of upserted.records as { device_type: string; device_id: string; device_key: number }[])
          setKey(keys, row.device_type, row.device_id, Number(row.device_key));
      }
      if (samples.length === 0) return;
      const keyOf = keyLookup(keys);
      let text = '';
      for (const s of samples) {
        const key = `${keyOf(s)}\t`;
        const ts = `\t${copyField(s.ts)}\n`;
        for (const name of Object.keys(s.data)) {
          const value = s.data[name];
          if (value === undefined) continue;
          const values = isNumber(value) ? `\t${value}\t\\N` : `\t\\N\t${copyJson(JSON.stringify(value))}`;
          text += key + this.fields.get(name) + values + ts;
        }
      }
      if (text !== '') await copyIn(runner, 'readings', READING_COLUMN_NAMES, text);
    });
  }

  /** Every device's key, read from the table once (again after a failed read). */
  private deviceKeys(): Promise<Map<string, Map<string, number>>> {
    this.keys ??= this.readKeys().catch((err: unknown) => {
      this.keys = undefined;
      throw err;
    });
    return this.keys;
  }

  private async readKeys(): Promise<Map<string, Map<string, number>>> {
    const rows = await this.db.query<{ device_type: string; device_id: string; device_key: string | number }[]>(
      `SELECT device_type, device_id, device_key FROM devices`,
    );
    const keys = new Map<string, Map<string, number>>();
    for (const row of rows) {
      const key = Number(row.device_key);
      setKey(keys, row.device_type, row.device_id, key);
      if (key >= this.nextKey) this.nextKey = key + 1;
    }
    return keys;
  }

  /** Samples in the range, oldest first. */
  async readings(range: ReadingsRange): Promise<ReadingRow[]> {
    const q = this.db
      .getRepository(Reading)
      .createQueryBuilder('r')
      .select(['r.name', 'r.value', 'r.textValue', 'r.ts']);
    this.narrow(q, 'r', range);
    const order = range.keep === 'latest' ? 'DESC' : 'ASC';
    q.orderBy('r.ts', order).addOrderBy('r.id', order).limit(range.limit);
    const rows = await q.getMany();
    if (range.keep === 'latest') rows.reverse();
    return rows.map((r) => ({
      deviceType: range.deviceType,
      deviceId: range.deviceId,
      name: r.name,
      value: r.value,
      textValue: r.textValue,
      ts: r.ts,
    }));
  }

  /**
   * One value per reading per `widthMs` bucket, oldest first, computed in SQL.
   * `ts - ts % width` is integer arithmetic on a bigint column in both SQLite
   * and PostgreSQL; the bucket is computed in a subquery so that GROUP BY
   * names a column rather than repeating a parameterised expression.
   */
  async buckets(range: ReadingsRange, widthMs: number, agg: Aggregate): Promise<Bucket[]> {
    const inner = this.db
      .getRepository(Reading)
      .createQueryBuilder('r')
      .select('r.ts - (r.ts % :width)', 'bucket')
      .addSelect('r.name', 'name')
      .addSelect('r.value', 'value')
      .setParameter('width', widthMs);
    this.narrow(inner, 'r', range);
    if (agg !== 'count') inner.andWhere('r.value IS NOT NULL');
    const order = range.keep === 'latest' ? 'DESC' : 'ASC';
    const rows = await this.db
      .createQueryBuilder()
      .select('b.bucket', 'bucket')
      .addSelect('b.name', 'name')
      .addSelect(AGGREGATES[agg], 'value')
      .from(`(${inner.getQuery()})`, 'b')
      .setParameters(inner.getParameters())
      .groupBy('b.bucket')
      .addGroupBy('b.name')
      .orderBy('b.bucket', order)
      .addOrderBy('b.name', order)
      .limit(range.limit)
      .getRawMany<{ bucket: string | number; name: string; value: string | number | null }>();
    if (range.keep === 'latest') rows.reverse();
    // PostgreSQL returns bigint and COUNT as strings.
    return rows.map((r) => ({
      start: Number(r.bucket),
      name: r.name,
      value: r.value === null ? null : Number(r.value),
    }));
  }

  private narrow(
    q: { andWhere(sql: string, params?: Record<string, unknown>): unknown },
    alias: string,
    range: ReadingsRange,
  ): void {
    q.andWhere(
      `${alias}.device_key = (SELECT d.device_key FROM devices d WHERE d.device_type = :deviceType AND d.device_id = :deviceId)`,
      {
        deviceType: range.deviceType,
        deviceId: range.deviceId,
      },
    );
    if (range.startMs !== undefined) q.andWhere(`${alias}.ts >= :startMs`, { startMs: range.startMs });
    if (range.endMs !== undefined) q.andWhere(`${alias}.ts <= :endMs`, { endMs: range.endMs });
    if (range.name !== undefined) q.andWhere(`${alias}.name = :name`, { name: range.name });
  }
}

/** A device's columns in DEVICE_COLUMNS order. */
function deviceRow(d: Device): unknown[] {
  return [
    d.deviceType,
    d.deviceId,
    d.status,
    d.firstSeen,
    d.lastSeen,
    d.batteryLevel,
    d.firmwareVersion,
    JSON.stringify(d.latestReadings),
  ];
}

function setKey(keys: Map<string, Map<string, number>>, type: string, id: string, key: number): void {
  let ofType = keys.get(type);
  if (ofType === undefined) keys.set(type, (ofType = new Map<string, number>()));
  ofType.set(id, key);
}

/** Numbers that go to `readings.value`; everything else is stored as JSON text. */
function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A sample's device key; consecutive samples of one device look it up once. */
function keyLookup(keys: Map<string, Map<string, number>>): (s: { deviceType: string; deviceId: string }) => number {
  let lastType: string | undefined;
  let lastId: string | undefined;
  let lastKey = 0;
  return (r) => {
    if (r.deviceId === lastId && r.deviceType === lastType) return lastKey;
    const key = keys.get(r.deviceType)?.get(r.deviceId);
    if (key === undefined) throw new Error(`reading of ${r.deviceType}/${r.deviceId}, a device never written`);
    lastType = r.deviceType;
    lastId = r.deviceId;
    return (lastKey = key);
  };
}

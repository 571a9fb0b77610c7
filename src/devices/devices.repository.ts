import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BatchWriter } from '../database/batch-writer';
import { BulkInsert } from '../database/bulk-insert';
import type { BulkColumn } from '../database/bulk-insert';
import { Device } from './device.entity';
import { Reading } from './reading.entity';

/** One sample of one reading, ready for the `readings` table. */
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

const READING_COLUMNS: BulkColumn[] = [
  { name: 'device_type', pgType: 'varchar' },
  { name: 'device_id', pgType: 'varchar' },
  { name: 'name', pgType: 'varchar' },
  { name: 'value', pgType: 'float8' },
  { name: 'text_value', pgType: 'text' },
  { name: 'ts', pgType: 'bigint' },
];
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

/** Owns the `devices` and `readings` tables (STYLE.md: one class per outside system). */
@Injectable()
export class DevicesRepository {
  private readonly insertDevices: BulkInsert;
  private readonly insertReadings: BulkInsert;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly writer: BatchWriter,
  ) {
    const postgres = db.options.type === 'postgres';
    this.insertDevices = new BulkInsert('devices', DEVICE_COLUMNS, postgres, DEVICE_UPSERT, DEVICES_PER_STATEMENT);
    this.insertReadings = new BulkInsert('readings', READING_COLUMNS, postgres, '', READINGS_PER_STATEMENT);
  }

  loadDevices(): Promise<Device[]> {
    return this.db.getRepository(Device).find();
  }

  /** Upserts the devices and appends the readings in one transaction. */
  async write(devices: readonly Device[], readings: readonly ReadingRow[]): Promise<void> {
    const deviceValues: unknown[] = [];
    for (const d of devices)
      deviceValues.push(
        d.deviceType,
        d.deviceId,
        d.status,
        d.firstSeen,
        d.lastSeen,
        d.batteryLevel,
        d.firmwareVersion,
        JSON.stringify(d.latestReadings),
      );
    const readingValues: unknown[] = [];
    for (const r of readings) readingValues.push(r.deviceType, r.deviceId, r.name, r.value, r.textValue, r.ts);
    const statements = [
      ...this.insertDevices.statements(deviceValues),
      ...this.insertReadings.statements(readingValues),
    ];
    if (statements.length > 0) await this.writer.run(statements);
  }

  /** Samples in the range, oldest first. */
  async readings(range: ReadingsRange): Promise<ReadingRow[]> {
    const q = this.db
      .getRepository(Reading)
      .createQueryBuilder('r')
      .select(['r.deviceType', 'r.deviceId', 'r.name', 'r.value', 'r.textValue', 'r.ts']);
    this.narrow(q, 'r', range);
    const order = range.keep === 'latest' ? 'DESC' : 'ASC';
    q.orderBy('r.ts', order).addOrderBy('r.id', order).limit(range.limit);
    const rows = await q.getMany();
    if (range.keep === 'latest') rows.reverse();
    return rows.map((r) => ({
      deviceType: r.deviceType,
      deviceId: r.deviceId,
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
    q.andWhere(`${alias}.device_type = :deviceType AND ${alias}.device_id = :deviceId`, {
      deviceType: range.deviceType,
      deviceId: range.deviceId,
    });
    if (range.startMs !== undefined) q.andWhere(`${alias}.ts >= :startMs`, { startMs: range.startMs });
    if (range.endMs !== undefined) q.andWhere(`${alias}.ts <= :endMs`, { endMs: range.endMs });
    if (range.name !== undefined) q.andWhere(`${alias}.name = :name`, { name: range.name });
  }
}

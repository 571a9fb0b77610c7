import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager, QueryDeepPartialEntity } from 'typeorm';
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

const READING_COLUMNS = ['device_type', 'device_id', 'name', 'value', 'text_value', 'ts'];
/** Rows per INSERT: 6 parameters each stays far below SQLite's 32,766 and PostgreSQL's 65,535 limits. */
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
  private readonly insertSql = new Map<number, string>();

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  loadDevices(): Promise<Device[]> {
    return this.db.getRepository(Device).find();
  }

  /** Upserts the devices and appends the readings in one transaction. */
  async write(devices: readonly Device[], readings: readonly ReadingRow[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < devices.length; i += DEVICES_PER_STATEMENT) {
        // Typed loosely by TypeORM because of the JSON column; the rows are whole entities.
        const rows = devices.slice(i, i + DEVICES_PER_STATEMENT) as QueryDeepPartialEntity<Device>[];
        await tx.getRepository(Device).upsert(rows, ['deviceType', 'deviceId']);
      }
      for (let i = 0; i < readings.length; i += READINGS_PER_STATEMENT) {
        await this.insertReadings(tx, readings.slice(i, i + READINGS_PER_STATEMENT));
      }
    });
  }

  /**
   * Plain multi-row INSERT: the query builder spends more time escaping
   * thousands of values than the database spends storing them.
   */
  private async insertReadings(tx: EntityManager, rows: readonly ReadingRow[]): Promise<void> {
    let sql = this.insertSql.get(rows.length);
    if (sql === undefined) {
      const postgres = this.db.options.type === 'postgres';
      const tuples = rows.map((_, r) => {
        const marks = READING_COLUMNS.map((_c, c) => (postgres ? `$${r * READING_COLUMNS.length + c + 1}` : '?'));
        return `(${marks.join(',')})`;
      });
      sql = `INSERT INTO readings (${READING_COLUMNS.join(', ')}) VALUES ${tuples.join(',')}`;
      // Full chunks all share one text (and one prepared statement); only the last chunk of a write differs.
      if (rows.length === READINGS_PER_STATEMENT || this.insertSql.size < 16) this.insertSql.set(rows.length, sql);
    }
    const params: unknown[] = [];
    for (const r of rows) params.push(r.deviceType, r.deviceId, r.name, r.value, r.textValue, r.ts);
    await tx.query(sql, params);
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

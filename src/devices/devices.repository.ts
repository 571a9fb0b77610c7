import type { DataSource } from 'typeorm';
import type { BatchWriter } from '../database/batch-writer';
import { Device } from './device.entity';
import type { DeviceKeys, Samples } from './device-rows';
import { setKey } from './device-rows';
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

const AGGREGATES: Record<Aggregate, string> = {
  avg: 'AVG(b.value)',
  min: 'MIN(b.value)',
  max: 'MAX(b.value)',
  count: 'COUNT(*)',
};

/**
 * The devices-and-readings projection's step in one write (1700000013000):
 * its rows are what the log's events in (`after`, `upTo`] make; the stored
 * position moves from `after` to `upTo` in the same transaction.
 */
export interface ProjectionStep {
  after: number;
  upTo: number;
}

/** The stored position was not `after`: someone else projected those events (nothing of this write was stored). */
export class ProjectionMovedError extends Error {
  readonly code = 'projection_moved';
  constructor(step: ProjectionStep) {
    super(`the devices projection is no longer at ${step.after}: not writing through ${step.upTo}`);
  }
}

/**
 * Owns the `devices` and `readings` tables (STYLE.md: one class per outside
 * system). Two stores implement the write, chosen once in DatabaseModule:
 * SqliteDevicesRepository (multi-row statements through the writer thread)
 * and PostgresDevicesRepository (an upsert that returns the keys, readings
 * by COPY). Reads are TypeORM's and shared here.
 *
 * A reading names its device by `devices.device_key`, a small integer. The
 * keys are kept here once read or made: on PostgreSQL the identity column
 * makes them (instances sharing the database agree through it); on SQLite,
 * which one process writes, they are counted by its store.
 */
export abstract class DevicesRepository {
  private keys: Promise<DeviceKeys> | undefined;

  constructor(
    protected readonly db: DataSource,
    protected readonly writer: BatchWriter,
  ) {}

  /**
   * Upserts the devices and appends the samples' readings in one transaction.
   * A sample's device must be among `devices` or have been written before.
   * With `step`, the transaction moves the projection's stored position
   * from `step.after` to `step.upTo`, and is not stored (ProjectionMovedError)
   * when the position was not `step.after`.
   */
  abstract write(devices: readonly Device[], samples: readonly Samples[], step?: ProjectionStep): Promise<void>;

  /** The last event whose devices and readings are stored. */
  async projected(): Promise<number> {
    const rows = await this.db.query<{ last_id: string | number }[]>(
      `SELECT last_id FROM projections WHERE name = 'devices'`,
    );
    return Number(rows[0]?.last_id ?? 0);
  }

  /** Told of every key read from the table (SQLite counts on from the highest). */
  protected abstract sawKey(key: number): void;

  /** The driver's mark for the n-th (1-based) statement parameter. */
  protected abstract param(n: number): string;

  async loadDevices(): Promise<Device[]> {
    await this.deviceKeys();
    return this.db.getRepository(Device).find();
  }

  /** Every device's key, read from the table once (again after a failed read). */
  protected deviceKeys(): Promise<DeviceKeys> {
    this.keys ??= this.readKeys().catch((err: unknown) => {
      this.keys = undefined;
      throw err;
    });
    return this.keys;
  }

  private async readKeys(): Promise<DeviceKeys> {
    const rows = await this.db.query<{ device_type: string; device_id: string; device_key: string | number }[]>(
      `SELECT device_type, device_id, device_key FROM devices`,
    );
    const keys = new Map<string, Map<string, number>>();
    for (const row of rows) {
      const key = Number(row.device_key);
      setKey(keys, row.device_type, row.device_id, key);
      this.sawKey(key);
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
   * Each series' last `limit` numeric samples, oldest first, in one
   * statement: a `UNION ALL` of one `ORDER BY ts DESC LIMIT n` per series,
   * each read backwards off `readings_device_ts_idx` and stopping after its
   * `n` rows. A `ROW_NUMBER() OVER (PARTITION BY device_key …)` would number
   * every stored sample of every device before keeping the last few (a
   * device's whole history per request); this reads what it answers.
   * Series of devices never written yet have no samples and are not asked.
   * At most MAX_RECENT_DEVICES terms, well below SQLite's 500 compound terms.
   */
  async recentSamples(
    series: readonly { deviceType: string; deviceId: string; name: string }[],
    limit: number,
  ): Promise<Map<string, { ts: number; value: number }[]>> {
    const keys = await this.deviceKeys();
    const terms: string[] = [];
    const params: unknown[] = [];
    const keyOf = new Map<number, string>();
    for (const s of series) {
      const key = keys.get(s.deviceType)?.get(s.deviceId);
      if (key === undefined) continue;
      keyOf.set(key, `${s.deviceType}/${s.deviceId}`);
      const n = params.length;
      params.push(key, s.name, limit);
      terms.push(
        `SELECT * FROM (SELECT r.device_key AS k, r.value AS v, r.ts AS ts FROM readings r WHERE r.device_key = ${this.param(n + 1)} AND r.name = ${this.param(n + 2)} AND r.value IS NOT NULL ORDER BY r.ts DESC, r.id DESC LIMIT ${this.param(n + 3)}) s${terms.length}`,
      );
    }
    const answer = new Map<string, { ts: number; value: number }[]>();
    if (terms.length === 0) return answer;
    const rows = await this.db.query<{ k: string | number; v: string | number; ts: string | number }[]>(
      terms.join(' UNION ALL '),
      params,
    );
    // Each term's rows come newest first; PostgreSQL returns bigint as strings.
    for (const row of rows) {
      const device = keyOf.get(Number(row.k)) as string;
      let samples = answer.get(device);
      if (samples === undefined) answer.set(device, (samples = []));
      samples.push({ ts: Number(row.ts), value: Number(row.v) });
    }
    for (const samples of answer.values()) samples.reverse().sort((a, b) => a.ts - b.ts);
    return answer;
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

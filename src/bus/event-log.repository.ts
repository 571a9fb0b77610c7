import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { DeviceEvent, EventFilter, NewEvent } from './device-event';
import { eventJson } from './device-event';
import { EventLogMeta, EventRecord } from './event-record.entity';

const PRUNED_THROUGH = 'pruned_through';
/** Rows per INSERT statement: 5 parameters each, far below SQLite's 32,766 limit. */
const ROWS_PER_STATEMENT = 500;

const EVENT_COLUMNS = ['id', 'event', 'device_type', 'device_id', 'received_at', 'body'];

/** Owns the `events` table: batched appends, ordered reads after a position, pruning. */
@Injectable()
export class EventLogRepository {
  private readonly insertSqlByRows = new Map<number, string>();

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * A plain multi-row INSERT for `rows` rows: the query builder spent more
   * time escaping a batch's values than the database spent storing them.
   * Full chunks share one text (one prepared statement); a few partial sizes are kept too.
   */
  private insertSql(rows: number): string {
    let sql = this.insertSqlByRows.get(rows);
    if (sql === undefined) {
      const postgres = this.db.options.type === 'postgres';
      const width = EVENT_COLUMNS.length;
      const tuples = Array.from({ length: rows }, (_, r) => {
        const marks = EVENT_COLUMNS.map((_c, c) => (postgres ? `$${r * width + c + 1}` : '?'));
        return `(${marks.join(',')})`;
      });
      sql = `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES ${tuples.join(',')}`;
      if (rows === ROWS_PER_STATEMENT || this.insertSqlByRows.size < 64) this.insertSqlByRows.set(rows, sql);
    }
    return sql;
  }

  /** The last position handed out (events up to it may since have been pruned). */
  async lastId(): Promise<number> {
    const rows = await this.db.query<{ last_id: string | number }[]>(
      `SELECT last_id FROM event_sequence WHERE name = 'events'`,
    );
    return Number(rows[0]?.last_id ?? 0);
  }

  /**
   * Gives the events the next positions and appends them, in one transaction.
   * The counter row is bumped first: under PostgreSQL its row lock is held
   * until commit, so instances sharing the log commit in id order, and a
   * rolled-back batch gives its ids back (no gaps).
   */
  async append(events: readonly NewEvent[]): Promise<DeviceEvent[]> {
    return this.db.transaction(async (tx) => {
      const runner = tx.queryRunner;
      if (!runner) throw new Error('transaction without a query runner');
      const bumped = await runner.query(
        `UPDATE event_sequence SET last_id = last_id + ${events.length} WHERE name = 'events' RETURNING last_id`,
        [],
        true,
      );
      const last = Number((bumped.records as { last_id: string | number }[])[0].last_id);
      const first = last - events.length + 1;
      const positioned: DeviceEvent[] = events.map((e, i) => ({ id: String(first + i), ...e }));
      for (let i = 0; i < positioned.length; i += ROWS_PER_STATEMENT) {
        const chunk = positioned.slice(i, i + ROWS_PER_STATEMENT);
        const params: unknown[] = [];
        for (const e of chunk) {
          params.push(Number(e.id), e.event, e.device_type, e.device_id, Date.parse(e.received_at), eventJson(e));
        }
        await runner.query(this.insertSql(chunk.length), params);
      }
      return positioned;
    });
  }

  /** Events after `afterId`, oldest first, narrowed by the filter's SQL-able parts. */
  async readAfter(afterId: number, filter: EventFilter, limit: number): Promise<DeviceEvent[]> {
    const q = this.db
      .getRepository(EventRecord)
      .createQueryBuilder('e')
      .select(['e.id', 'e.body'])
      .where('e.id > :afterId', { afterId })
      .orderBy('e.id', 'ASC')
      .limit(limit);
    if (filter.deviceType !== undefined) q.andWhere('e.device_type = :deviceType', { deviceType: filter.deviceType });
    if (filter.deviceId !== undefined) q.andWhere('e.device_id = :deviceId', { deviceId: filter.deviceId });
    if (filter.eventTypes !== undefined) {
      if (filter.eventTypes.length === 0) return [];
      q.andWhere('e.event IN (:...eventTypes)', { eventTypes: filter.eventTypes });
    }
    const rows = await q.getMany();
    return rows.map((r) => JSON.parse(r.body) as DeviceEvent);
  }

  /** Events with `after < id <= through`, oldest first, at most `limit`. */
  async readRange(after: number, through: number, limit: number): Promise<DeviceEvent[]> {
    const rows = await this.db
      .getRepository(EventRecord)
      .createQueryBuilder('e')
      .select(['e.id', 'e.body'])
      .where('e.id > :after AND e.id <= :through', { after, through })
      .orderBy('e.id', 'ASC')
      .limit(limit)
      .getMany();
    return rows.map((r) => JSON.parse(r.body) as DeviceEvent);
  }

  /** The highest id retention has deleted; resuming at or before it is a gap. */
  async prunedThrough(): Promise<number> {
    const row = await this.db.getRepository(EventLogMeta).findOneBy({ key: PRUNED_THROUGH });
    return row ? Number(row.value) : 0;
  }

  /** Deletes events received before `cutoffMs`; returns how many went. */
  async pruneBefore(cutoffMs: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      const row = await tx
        .getRepository(EventRecord)
        .createQueryBuilder('e')
        .select('MAX(e.id)', 'max')
        .where('e.received_at < :cutoffMs', { cutoffMs })
        .getRawOne<{ max: string | number | null }>();
      const through = Number(row?.max ?? 0);
      if (through === 0) return 0;
      const result = await tx
        .getRepository(EventRecord)
        .createQueryBuilder()
        .delete()
        .where('id <= :through', { through })
        .execute();
      await tx.getRepository(EventLogMeta).save({ key: PRUNED_THROUGH, value: String(through) });
      return result.affected ?? 0;
    });
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }
}

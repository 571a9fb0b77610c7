import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BatchWriter } from '../database/batch-writer';
import { BulkInsert } from '../database/bulk-insert';
import type { BulkColumn } from '../database/bulk-insert';
import { CopyFields, copyIn, copyJson } from '../database/pg-copy';
import type { WriteStatement } from '../database/batch-writer';
import type { DeviceEvent, EventFilter, NewEvent } from './device-event';
import { PositionedEvent, eventJson } from './device-event';
import { EventLogMeta, EventRecord } from './event-record.entity';

const PRUNED_THROUGH = 'pruned_through';

const EVENT_COLUMNS: BulkColumn[] = [
  { name: 'id', pgType: 'bigint' },
  { name: 'event', pgType: 'varchar' },
  { name: 'device_type', pgType: 'varchar' },
  { name: 'device_id', pgType: 'varchar' },
  { name: 'received_at', pgType: 'bigint' },
  { name: 'body', pgType: 'text' },
];

const COLUMN_NAMES = EVENT_COLUMNS.map((c) => c.name);

/** The part of node-pg's client used here (a multi-statement simple query answers with one result each). */
interface PgClient {
  query(sql: string): Promise<unknown>;
}

/** Owns the `events` table: batched appends, ordered reads after a position, pruning. */
@Injectable()
export class EventLogRepository {
  private readonly insert: BulkInsert;
  /** SQLite: the last position handed out, read from the log once and counted here after. */
  private lastAssigned: number | undefined;
  /** PostgreSQL: event names, device types and ids in COPY form (few, and repeated in every batch). */
  private readonly fields = new CopyFields();
  private appending: Promise<unknown> = Promise.resolve();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly writer: BatchWriter,
  ) {
    // SQLite's statements; PostgreSQL gets its rows by COPY.
    this.insert = new BulkInsert('events', EVENT_COLUMNS, false);
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
   *
   * PostgreSQL: the counter row is bumped first; its row lock is held until
   * commit, so instances sharing the log commit in id order, and a
   * rolled-back batch gives its ids back (no gaps).
   *
   * SQLite is one process's (config refuses it with REDIS_URL), so positions
   * are counted here and the batch goes to the BatchWriter's thread; the
   * counter row moves only from the value this process last wrote, and a
   * failed batch hands its positions out again.
   */
  append(events: readonly NewEvent[]): Promise<DeviceEvent[]> {
    if (this.db.options.type === 'postgres') return this.appendLocked(events);
    // One at a time: each batch starts where the previous one ended.
    const result = this.appending.then(() => this.appendCounted(events));
    this.appending = result.catch(() => undefined);
    return result;
  }

  private async appendCounted(events: readonly NewEvent[]): Promise<DeviceEvent[]> {
    const last = (this.lastAssigned ??= await this.lastId());
    const positioned = events.map((e, i) => new PositionedEvent(String(last + 1 + i), e));
    const statements: WriteStatement[] = [
      {
        sql: `UPDATE event_sequence SET last_id = ? WHERE name = 'events' AND last_id = ?`,
        params: [last + events.length, last],
        // Anything else means another process writes this file too.
        expectChanges: 1,
      },
    ];
    statements.push(...this.insert.statements(rowValues(positioned)));
    try {
      await this.writer.run(statements);
    } catch (err) {
      // Read the counter again next time: a writer thread that died after its commit has moved it.
      this.lastAssigned = undefined;
      throw err;
    }
    this.lastAssigned = last + events.length;
    return positioned;
  }

  /**
   * BEGIN and the counter bump go as one simple query, then the rows by
   * COPY, then COMMIT: every reply waits for a turn of the busy event loop,
   * and this takes four where a TypeORM transaction took five.
   */
  private async appendLocked(events: readonly NewEvent[]): Promise<DeviceEvent[]> {
    const runner = this.db.createQueryRunner();
    let client: PgClient | undefined;
    try {
      client = (await runner.connect()) as PgClient;
      const [, bumped] = (await client.query(
        `BEGIN; UPDATE event_sequence SET last_id = last_id + ${events.length} WHERE name = 'events' RETURNING last_id`,
      )) as { rows: { last_id: string }[] }[];
      const last = Number(bumped.rows[0].last_id);
      const first = last - events.length + 1;
      const positioned = events.map((e, i) => new PositionedEvent(String(first + i), e));
      const fields = this.fields;
      let text = '';
      for (const e of positioned)
        text += `${e.id}\t${fields.get(e.event)}\t${fields.get(e.device_type)}\t${fields.get(e.device_id)}\t${Date.parse(e.received_at)}\t${copyJson(eventJson(e))}\n`;
      await copyIn(runner, 'events', COLUMN_NAMES, text);
      await client.query('COMMIT');
      return positioned;
    } catch (err) {
      // Outside a transaction (BEGIN itself failed) this is only a warning.
      await client?.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await runner.release();
    }
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
    const row = await this.db
      .getRepository(EventRecord)
      .createQueryBuilder('e')
      .select('MAX(e.id)', 'max')
      .where('e.received_at < :cutoffMs', { cutoffMs })
      .getRawOne<{ max: string | number | null }>();
    const through = Number(row?.max ?? 0);
    if (through === 0) return 0;
    // Through the writer: on SQLite a delete on the main connection would wait for the writer thread's lock.
    const [m1, m2, m3] = this.db.options.type === 'postgres' ? ['$1', '$1', '$2'] : ['?', '?', '?'];
    const [removed] = await this.writer.run([
      { sql: `DELETE FROM events WHERE id <= ${m1}`, params: [through] },
      {
        sql: `INSERT INTO event_log_meta ("key", "value") VALUES (${m2}, ${m3}) ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"`,
        params: [PRUNED_THROUGH, String(through)],
      },
    ]);
    return removed;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }
}

/** The rows' values for EVENT_COLUMNS, one row after another. */
function rowValues(events: readonly DeviceEvent[]): unknown[] {
  const values: unknown[] = [];
  for (const e of events)
    values.push(Number(e.id), e.event, e.device_type, e.device_id, Date.parse(e.received_at), eventJson(e));
  return values;
}

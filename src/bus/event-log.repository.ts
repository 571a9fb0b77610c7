import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BatchWriter } from '../database/batch-writer';
import { BulkInsert } from '../database/bulk-insert';
import type { BulkColumn } from '../database/bulk-insert';
import { pgSafe } from '../database/bulk-insert';
import { CopyFields, copyField, copyIn, copyJson } from '../database/pg-copy';
import { RefusedWrite } from '../database/write-errors';
import type { WriteStatement } from '../database/batch-writer';
import type { DeviceEvent, EventFilter, NewEvent } from './device-event';
import { PositionedEvent, eventJson } from './device-event';
import { EventLogMeta, EventRecord } from './event-record.entity';
import type { MessageKey } from './message-ids';
import { freshEvents, keyText, openedMessages } from './message-ids';

const PRUNED_THROUGH = 'pruned_through';

const EVENT_COLUMNS: BulkColumn[] = [
  { name: 'id', pgType: 'bigint' },
  { name: 'event', pgType: 'varchar' },
  { name: 'device_type', pgType: 'varchar' },
  { name: 'device_id', pgType: 'varchar' },
  { name: 'received_at', pgType: 'bigint' },
  { name: 'body', pgType: 'text' },
  { name: 'message_id', pgType: 'varchar' },
];

const COLUMN_NAMES = EVENT_COLUMNS.map((c) => c.name);
/** Message keys per look-up statement (three parameters each). */
const LOOKUP_CHUNK = 1000;

/** The part of node-pg's client used here (a multi-statement simple query answers with one result each). */
interface PgClient {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/**
 * What `append` made of each event it was given, in the same order: the
 * event with its position, or undefined when it was not written because its
 * message is in the log already (issue #11: a redelivery).
 */
export type Appended = (DeviceEvent | undefined)[];

/** An event about to be written: the event given, and the same with its position. */
type Row = [NewEvent, PositionedEvent];

/** Owns the `events` table: batched, idempotent appends, ordered reads after a position, pruning. */
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
   * Gives the events the next positions and appends them, in one
   * transaction, leaving out the messages already in the log (see
   * message-ids.ts). Positions stay gap-free: left-out events get none.
   *
   * `batchKey` names this batch; it is stored in the same transaction
   * (`event_batches`). With `retry`, a batch whose key is stored already
   * (the earlier attempt committed and only its answer was lost) answers
   * with the positions it got and is not written again.
   *
   * PostgreSQL: the counter row is bumped first; its row lock is held until
   * commit, so instances sharing the log commit in id order, a rolled-back
   * batch gives its ids back (no gaps), and the look-up of message ids,
   * made under that lock, sees every batch committed before.
   *
   * SQLite is one process's (config refuses it with REDIS_URL), so positions
   * are counted here and the batch goes to the BatchWriter's thread; the
   * counter row moves only from the value this process last wrote, and a
   * failed batch hands its positions out again.
   */
  append(events: readonly NewEvent[], batchKey: string, retry = false): Promise<Appended> {
    if (this.db.options.type === 'postgres') return this.appendLocked(events, batchKey, retry);
    // One at a time: each batch starts where the previous one ended.
    const result = this.appending.then(() => this.appendCounted(events, batchKey, retry));
    this.appending = result.catch(() => undefined);
    return result;
  }

  private async appendCounted(events: readonly NewEvent[], batchKey: string, retry: boolean): Promise<Appended> {
    if (retry) {
      const earlier = await this.earlierAttempt(events, batchKey, '?');
      if (earlier) return earlier;
    }
    const opened = openedMessages(events);
    // Appends run one at a time and the writer thread has committed the previous one: the main connection sees it.
    const keep = opened.length === 0 ? undefined : freshEvents(events, await this.loggedSqlite(opened));
    const last = (this.lastAssigned ??= await this.lastId());
    const { appended, rows, skipped } = positioned(events, keep, last + 1);
    if (rows.length === 0) return appended;
    const statements: WriteStatement[] = [
      {
        sql: `UPDATE event_sequence SET last_id = ? WHERE name = 'events' AND last_id = ?`,
        params: [last + rows.length, last],
        // Anything else means another process writes this file too.
        expectChanges: 1,
      },
    ];
    statements.push(...this.insert.statements(rowValues(rows)));
    statements.push({
      sql: `INSERT INTO event_batches (batch_key, first_id, last_id, skipped) VALUES (?, ?, ?, ?)`,
      params: [batchKey, last + 1, last + rows.length, skipped],
    });
    try {
      await this.writer.run(statements);
    } catch (err) {
      // Read the counter again next time: a writer thread that died after its commit has moved it.
      this.lastAssigned = undefined;
      throw err;
    }
    this.lastAssigned = last + rows.length;
    return appended;
  }

  /**
   * BEGIN and the counter bump go as one simple query, then the rows by
   * COPY, then the batch's row and COMMIT as one: every reply waits for a
   * turn of the busy event loop, and this takes three. Batches with message
   * ids add one look-up, and one counter correction when some were left out.
   */
  private async appendLocked(events: readonly NewEvent[], batchKey: string, retry: boolean): Promise<Appended> {
    if (retry) {
      const earlier = await this.earlierAttempt(events, batchKey, '$1');
      if (earlier) return earlier;
    }
    const opened = openedMessages(events);
    const runner = this.db.createQueryRunner();
    let client: PgClient | undefined;
    try {
      client = (await runner.connect()) as PgClient;
      const [, bumped] = (await client.query(
        `BEGIN; UPDATE event_sequence SET last_id = last_id + ${events.length} WHERE name = 'events' RETURNING last_id`,
      )) as { rows: { last_id: string }[] }[];
      const first = Number(bumped.rows[0].last_id) - events.length + 1;
      const keep = opened.length === 0 ? undefined : freshEvents(events, await loggedPg(client, opened));
      const { appended, rows, skipped } = positioned(events, keep, first);
      if (rows.length === 0) {
        await client.query('ROLLBACK');
        return appended;
      }
      const fields = this.fields;
      let text = '';
      for (const [e, p] of rows)
        text += `${p.id}\t${fields.get(p.event)}\t${fields.get(p.device_type)}\t${fields.get(p.device_id)}\t${Date.parse(p.received_at)}\t${copyJson(bodyOf(p))}\t${e.opensMessage && e.message_id !== undefined ? copyField(e.message_id) : '\\N'}\n`;
      await copyIn(runner, 'events', COLUMN_NAMES, text);
      const lastId = first + rows.length - 1;
      // Left-out events give their positions back: the lock is still ours, so nobody has taken them.
      const giveBack =
        rows.length < events.length ? `UPDATE event_sequence SET last_id = ${lastId} WHERE name = 'events'; ` : '';
      await client.query(
        `${giveBack}INSERT INTO event_batches (batch_key, first_id, last_id, skipped) VALUES (${literal(batchKey)}, ${first}, ${lastId}, '${skipped}'); COMMIT`,
      );
      return appended;
    } catch (err) {
      // Outside a transaction (BEGIN itself failed) this is only a warning.
      await client?.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await runner.release();
    }
  }

  /** The outcome of an attempt of this batch that committed, or undefined when none did. */
  private async earlierAttempt(
    events: readonly NewEvent[],
    batchKey: string,
    marker: string,
  ): Promise<Appended | undefined> {
    const [row] = await this.db.query<{ first_id: string | number; skipped: string }[]>(
      `SELECT first_id, skipped FROM event_batches WHERE batch_key = ${marker}`,
      [batchKey],
    );
    if (row === undefined) return undefined;
    const skipped = new Set(row.skipped === '' ? [] : row.skipped.split(',').map(Number));
    return positioned(
      events,
      events.map((_, i) => !skipped.has(i)),
      Number(row.first_id),
    ).appended;
  }

  /** The keys (keyText) of these messages that are in the log. */
  private async loggedSqlite(keys: readonly MessageKey[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
      const chunk = keys.slice(i, i + LOOKUP_CHUNK);
      const params: string[] = [];
      for (const k of chunk) params.push(k.messageId, k.deviceType, k.deviceId);
      // `message_id IS NOT NULL` lets SQLite search the partial index.
      const rows = await this.db.query<{ message_id: string; device_type: string; device_id: string }[]>(
        `SELECT message_id, device_type, device_id FROM events WHERE message_id IS NOT NULL AND (message_id, device_type, device_id) IN (VALUES ${chunk.map(() => '(?,?,?)').join(',')})`,
        params,
      );
      for (const r of rows)
        found.add(keyText({ messageId: r.message_id, deviceType: r.device_type, deviceId: r.device_id }));
    }
    return found;
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
      // Retries come within seconds; a batch row outlives its events by nothing.
      { sql: `DELETE FROM event_batches WHERE last_id <= ${m1}`, params: [through] },
    ]);
    return removed;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }
}

/** The keys (keyText) of these messages that are in the log, looked up inside the caller's transaction. */
async function loggedPg(client: PgClient, keys: readonly MessageKey[]): Promise<Set<string>> {
  // As COPY stores them (pgSafe), so a message id with a NUL matches its stored form.
  const ids = keys.map((k) => pgSafe(k.messageId));
  const result = (await client.query(
    `SELECT message_id, device_type, device_id FROM events WHERE message_id IS NOT NULL AND (message_id, device_type, device_id) IN (SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]))`,
    [ids, keys.map((k) => k.deviceType), keys.map((k) => k.deviceId)],
  )) as { rows: { message_id: string; device_type: string; device_id: string }[] };
  const found = new Set<string>();
  const byStored = new Map(keys.map((k, i) => [keyText({ ...k, messageId: ids[i] as string }), k]));
  for (const r of result.rows) {
    const key = byStored.get(keyText({ messageId: r.message_id, deviceType: r.device_type, deviceId: r.device_id }));
    if (key) found.add(keyText(key));
  }
  return found;
}

/**
 * Positions from `first` for the events `keep` marks (all when undefined),
 * the rows to write, and the left-out events' indexes (`event_batches.skipped`).
 */
function positioned(
  events: readonly NewEvent[],
  keep: readonly boolean[] | undefined,
  first: number,
): { appended: Appended; rows: Row[]; skipped: string } {
  const appended: Appended = new Array<DeviceEvent | undefined>(events.length);
  const rows: Row[] = [];
  const skipped: number[] = [];
  for (let i = 0; i < events.length; i++) {
    if (keep !== undefined && !keep[i]) {
      skipped.push(i);
      continue;
    }
    const p = new PositionedEvent(String(first + rows.length), events[i]);
    rows.push([events[i], p]);
    appended[i] = p;
  }
  return { appended, rows, skipped: skipped.join(',') };
}

/** The event's JSON; one that has none (a BigInt, a cycle) is refused, not retried. */
function bodyOf(event: DeviceEvent): string {
  try {
    return eventJson(event);
  } catch (err) {
    throw new RefusedWrite(`the event does not serialise to JSON: ${String(err)}`);
  }
}

/** A PostgreSQL string literal (standard_conforming_strings is on since 9.1). */
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** The rows' values for EVENT_COLUMNS, one row after another. */
function rowValues(rows: readonly Row[]): unknown[] {
  const values: unknown[] = [];
  for (const [e, p] of rows)
    values.push(
      Number(p.id),
      p.event,
      p.device_type,
      p.device_id,
      Date.parse(p.received_at),
      bodyOf(p),
      e.opensMessage && e.message_id !== undefined ? e.message_id : null,
    );
  return values;
}

import type { DataSource } from 'typeorm';
import type { BatchWriter } from '../database/batch-writer';
import { RefusedWrite } from '../database/write-errors';
import type { DeviceEvent, EventFilter, NewEvent } from './device-event';
import { PositionedEvent, eventJson } from './device-event';
import { EventLogMeta, EventRecord } from './event-record.entity';
import type { IngestFence } from './ingest-fence';

const PRUNED_THROUGH = 'pruned_through';

/**
 * What `append` made of each event it was given, in the same order: the
 * event with its position, or undefined when it was not written because its
 * message is in the log already (issue #11: a redelivery).
 */
export type Appended = (DeviceEvent | undefined)[];

/** An event about to be written: the event given, and the same with its position. */
export type Row = [NewEvent, PositionedEvent];

/**
 * Owns the `events` table: batched, idempotent appends, ordered reads after
 * a position, pruning. Two stores implement it, chosen once in
 * DatabaseModule: SqliteEventLogRepository (positions counted in-process,
 * rows through the writer thread) and PostgresEventLogRepository (a locked
 * counter row, rows by COPY). Reads are TypeORM's and shared here.
 */
export abstract class EventLogRepository {
  constructor(
    protected readonly db: DataSource,
    protected readonly writer: BatchWriter,
  ) {}

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
   * `fences` (issue #12): the ingest-lease epochs the batch's MQTT messages
   * were received under; a store shared by several instances commits the
   * batch only while each is current, else throws FencedError having
   * written nothing. A store one process owns (SQLite) has no one to fence.
   */
  abstract append(
    events: readonly NewEvent[],
    batchKey: string,
    retry?: boolean,
    fences?: readonly IngestFence[],
  ): Promise<Appended>;

  /** The driver's mark for the n-th (1-based) statement parameter. */
  protected abstract param(n: number): string;

  /** The last position handed out (events up to it may since have been pruned). */
  async lastId(): Promise<number> {
    const rows = await this.db.query<{ last_id: string | number }[]>(
      `SELECT last_id FROM event_sequence WHERE name = 'events'`,
    );
    return Number(rows[0]?.last_id ?? 0);
  }

  /** The outcome of an attempt of this batch that committed, or undefined when none did. */
  protected async earlierAttempt(events: readonly NewEvent[], batchKey: string): Promise<Appended | undefined> {
    const [row] = await this.db.query<{ first_id: string | number; skipped: string }[]>(
      `SELECT first_id, skipped FROM event_batches WHERE batch_key = ${this.param(1)}`,
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

  /** Events after `afterId`, oldest first, narrowed by the filter's SQL-able parts. */
  async readAfter(afterId: number, filter: EventFilter, limit: number): Promise<DeviceEvent[]> {
    const q = this.db
      .getRepository(EventRecord)
      .createQueryBuilder('e')
      .select(['e.id', 'e.body'])
      // The position as a literal, not a parameter: a parameter lets PostgreSQL settle on a generic plan,
      // which cannot see that little of the log lies past a recent position (it guesses a third), and a
      // filtered read may then scan and sort the table instead of walking the id index.
      .where(`e.id > ${Math.trunc(afterId)}`)
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
    const [removed] = await this.writer.run([
      { sql: `DELETE FROM events WHERE id <= ${this.param(1)}`, params: [through] },
      {
        sql: `INSERT INTO event_log_meta ("key", "value") VALUES (${this.param(1)}, ${this.param(2)}) ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"`,
        params: [PRUNED_THROUGH, String(through)],
      },
      // Retries come within seconds; a batch row outlives its events by nothing.
      { sql: `DELETE FROM event_batches WHERE last_id <= ${this.param(1)}`, params: [through] },
    ]);
    return removed;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }
}

/**
 * Positions from `first` for the events `keep` marks (all when undefined),
 * the rows to write, and the left-out events' indexes (`event_batches.skipped`).
 */
export function positioned(
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
export function bodyOf(event: DeviceEvent): string {
  try {
    return eventJson(event);
  } catch (err) {
    throw new RefusedWrite(`the event does not serialise to JSON: ${String(err)}`);
  }
}

/** The message id stored with a row: only on the first event of a device message. */
export const storedMessageId = (e: NewEvent): string | null =>
  e.opensMessage && e.message_id !== undefined ? e.message_id : null;

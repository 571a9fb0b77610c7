import type { DataSource } from 'typeorm';
import type { BatchWriter } from '../database/batch-writer';
import { pgSafe } from '../database/bulk-insert';
import { isoMs } from '../common/iso-time';
import { CopyFields, copyField, copyIn, copyJson } from '../database/pg-copy';
import type { NewEvent } from './device-event';
import type { Appended } from './event-log.repository';
import { EventLogRepository, bodyOf, positioned, storedMessageId } from './event-log.repository';
import type { IngestFence } from './ingest-fence';
import { FencedError } from './ingest-fence';
import type { MessageKey } from './message-ids';
import { freshEvents, keyText, openedMessages } from './message-ids';

const COLUMN_NAMES = ['id', 'event', 'device_type', 'device_id', 'received_at', 'body', 'message_id'];

/** The part of node-pg's client used here (a multi-statement simple query answers with one result each). */
interface PgClient {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/**
 * The event log on PostgreSQL, shared by every instance (REDIS_URL): the
 * counter row is bumped first; its row lock is held until commit, so
 * instances sharing the log commit in id order, a rolled-back batch gives
 * its ids back (no gaps), and the look-up of message ids, made under that
 * lock, sees every batch committed before. Rows go in by COPY.
 */
export class PostgresEventLogRepository extends EventLogRepository {
  /** Event names, device types and ids in COPY form (few, and repeated in every batch). */
  private readonly fields = new CopyFields();

  constructor(db: DataSource, writer: BatchWriter) {
    super(db, writer);
  }

  protected param(n: number): string {
    return `$${n}`;
  }

  /**
   * BEGIN and the counter bump go as one simple query, then the rows by
   * COPY, then the batch's row and COMMIT as one: every reply waits for a
   * turn of the busy event loop, and this takes three. Batches with message
   * ids add one look-up, and one counter correction when some were left out.
   */
  async append(
    events: readonly NewEvent[],
    batchKey: string,
    retry = false,
    fences: readonly IngestFence[] = [],
  ): Promise<Appended> {
    if (retry) {
      const earlier = await this.earlierAttempt(events, batchKey);
      if (earlier) return earlier;
    }
    const opened = openedMessages(events);
    const runner = this.db.createQueryRunner();
    let client: PgClient | undefined;
    try {
      client = (await runner.connect()) as PgClient;
      const [, bumped] = (await client.query(
        `BEGIN; UPDATE event_sequence SET last_id = last_id + ${events.length} WHERE name = 'events'${fenceClause(fences)} RETURNING last_id`,
      )) as { rows: { last_id: string }[] }[];
      if (bumped.rows.length === 0) {
        await client.query('ROLLBACK');
        throw new FencedError(fences);
      }
      const first = Number(bumped.rows[0].last_id) - events.length + 1;
      const keep = opened.length === 0 ? undefined : freshEvents(events, await logged(client, opened));
      const { appended, rows, skipped } = positioned(events, keep, first);
      if (rows.length === 0) {
        await client.query('ROLLBACK');
        return appended;
      }
      const fields = this.fields;
      let text = '';
      for (const [e, p] of rows) {
        const messageId = storedMessageId(e);
        text += `${p.id}\t${fields.get(p.event)}\t${fields.get(p.device_type)}\t${fields.get(p.device_id)}\t${isoMs(p.received_at)}\t${copyJson(bodyOf(p))}\t${messageId === null ? '\\N' : copyField(messageId)}\n`;
      }
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
}

/** The keys (keyText) of these messages that are in the log, looked up inside the caller's transaction. */
async function logged(client: PgClient, keys: readonly MessageKey[]): Promise<Set<string>> {
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
 * The batch's fences as conditions of the counter bump (no extra round trip):
 * each lease row must still carry the epoch, and is share-locked until the
 * commit, so a successor's takeover (an UPDATE of that row) waits for this
 * batch, and every batch after the takeover sees the new epoch.
 */
function fenceClause(fences: readonly IngestFence[]): string {
  let sql = '';
  for (const f of fences)
    sql += ` AND EXISTS (SELECT 1 FROM ingest_leases WHERE name = ${literal(f.lease)} AND epoch = ${Math.trunc(f.epoch)} FOR SHARE)`;
  return sql;
}

/** A PostgreSQL string literal (standard_conforming_strings is on since 9.1). */
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

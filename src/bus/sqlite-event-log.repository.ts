import type { DataSource } from 'typeorm';
import { isoMs } from '../common/iso-time';
import type { BatchWriter, WriteStatement } from '../database/batch-writer';
import { BulkInsert } from '../database/bulk-insert';
import type { BulkColumn } from '../database/bulk-insert';
import type { NewEvent } from './device-event';
import type { Appended, Row } from './event-log.repository';
import { EventLogRepository, bodyOf, positioned, storedMessageId } from './event-log.repository';
import type { MessageKey } from './message-ids';
import { freshEvents, keyText, openedMessages } from './message-ids';

const EVENT_COLUMNS: BulkColumn[] = [
  { name: 'id', pgType: 'bigint' },
  { name: 'event', pgType: 'varchar' },
  { name: 'device_type', pgType: 'varchar' },
  { name: 'device_id', pgType: 'varchar' },
  { name: 'received_at', pgType: 'bigint' },
  { name: 'body', pgType: 'text' },
  { name: 'message_id', pgType: 'varchar' },
];
/** Message keys per look-up statement (three parameters each). */
const LOOKUP_CHUNK = 1000;

/**
 * The event log on SQLite, which is one process's (config refuses it with
 * REDIS_URL): positions are counted here and each batch goes to the
 * BatchWriter's thread; the counter row moves only from the value this
 * process last wrote, and a failed batch hands its positions out again.
 */
export class SqliteEventLogRepository extends EventLogRepository {
  private readonly insert = new BulkInsert('events', EVENT_COLUMNS, false);
  /** The last position handed out, read from the log once and counted here after. */
  private lastAssigned: number | undefined;
  private appending: Promise<unknown> = Promise.resolve();

  constructor(db: DataSource, writer: BatchWriter) {
    super(db, writer);
  }

  append(events: readonly NewEvent[], batchKey: string, retry = false): Promise<Appended> {
    // One at a time: each batch starts where the previous one ended.
    const result = this.appending.then(() => this.appendCounted(events, batchKey, retry));
    this.appending = result.catch(() => undefined);
    return result;
  }

  protected param(): string {
    return '?';
  }

  private async appendCounted(events: readonly NewEvent[], batchKey: string, retry: boolean): Promise<Appended> {
    if (retry) {
      const earlier = await this.earlierAttempt(events, batchKey);
      if (earlier) return earlier;
    }
    const opened = openedMessages(events);
    // Appends run one at a time and the writer thread has committed the previous one: the main connection sees it.
    const keep = opened.length === 0 ? undefined : freshEvents(events, await this.logged(opened));
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

  /** The keys (keyText) of these messages that are in the log. */
  private async logged(keys: readonly MessageKey[]): Promise<Set<string>> {
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
}

/** The rows' values for EVENT_COLUMNS, one row after another. */
function rowValues(rows: readonly Row[]): unknown[] {
  const values: unknown[] = [];
  for (const [e, p] of rows)
    values.push(
      Number(p.id),
      p.event,
      p.device_type,
      p.device_id,
      isoMs(p.received_at),
      bodyOf(p),
      storedMessageId(e),
    );
  return values;
}

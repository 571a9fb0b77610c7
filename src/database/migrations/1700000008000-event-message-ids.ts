import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotent appends (issue #11, item 3).
 *
 * - `events.message_id`: the `message_id` a device put in its payload, on
 *   the first event of that message only. Unique per device among the
 *   events the log keeps (retention prunes the rest), so a redelivered
 *   message is not logged twice. Led by `message_id` so the log's look-up
 *   of a batch's ids (`message_id IN …`) is an index search.
 * - `event_batches`: one row per appended batch, written in the batch's
 *   transaction. A batch retried after its commit went through (the SQLite
 *   writer thread died before replying, a PostgreSQL connection dropped
 *   before the COMMIT's answer) finds its row and gets the positions it
 *   already has instead of being written again. `skipped` lists the indexes
 *   of the batch's events that were not written (duplicates).
 */
export class EventMessageIds1700000008000 implements MigrationInterface {
  name = 'EventMessageIds1700000008000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE events ADD COLUMN message_id varchar(128)`);
    await q.query(
      `CREATE UNIQUE INDEX events_message_idx ON events (message_id, device_type, device_id) WHERE message_id IS NOT NULL`,
    );
    await q.query(
      `CREATE TABLE event_batches (batch_key varchar(64) PRIMARY KEY, first_id bigint NOT NULL, last_id bigint NOT NULL, skipped text NOT NULL)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE event_batches`);
    await q.query(`DROP INDEX events_message_idx`);
    await q.query(`ALTER TABLE events DROP COLUMN message_id`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The devices-and-readings projection's position in the event log (issues
 * #11, #12): the `devices` and `readings` tables hold what the log's events
 * up to `last_id` make of them. Each write moves it in the write's own
 * transaction, only from the position it was made after, so a write is
 * stored once whoever makes it and however often it is retried, and whoever
 * projects next (after a restart, a crash, or on another instance) goes on
 * from there: no readings lost, none twice. It replaces the per-write keys of
 * `reading_batches` (1700000009000). An existing log starts projected
 * through its last event.
 */
export class DevicesProjection1700000013000 implements MigrationInterface {
  name = 'DevicesProjection1700000013000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE projections (name varchar(64) PRIMARY KEY, last_id bigint NOT NULL)`);
    await q.query(
      `INSERT INTO projections (name, last_id) SELECT 'devices', last_id FROM event_sequence WHERE name = 'events'`,
    );
    await q.query(`DROP TABLE reading_batches`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE reading_batches (batch_key varchar(64) PRIMARY KEY, written_at bigint NOT NULL)`);
    await q.query(`DROP TABLE projections`);
  }
}

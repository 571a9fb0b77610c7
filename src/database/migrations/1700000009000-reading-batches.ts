import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotent readings writes, as `event_batches` makes event appends
 * (1700000008000): one row per devices-and-readings write, stored in the
 * write's transaction. A write retried after its commit went through (the
 * SQLite writer thread died before replying, a PostgreSQL connection dropped
 * before the COMMIT's answer) finds its row and is not stored again. Each
 * write forgets its writer's previous key (no retry of it can come any
 * more), and rows older than a day (left by a stopped instance) go too, so
 * the table holds about one row per running instance.
 */
export class ReadingBatches1700000009000 implements MigrationInterface {
  name = 'ReadingBatches1700000009000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE reading_batches (batch_key varchar(64) PRIMARY KEY, written_at bigint NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE reading_batches`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * PostgreSQL only: cheaper indexes on the two tables every message appends
 * to (measured per 100,000 messages of the ingest bench, server time):
 *
 * - `readings` loses its primary key index (−0.3 s): nothing looks a sample
 *   up by id. `id` stays, from its sequence, to keep same-time samples in
 *   the order they came in; `(device_key, ts)` serves every query.
 * - `events_received_idx` becomes a BRIN index (−0.2 s): `received_at`
 *   grows with the log, so block ranges summarise it, and retention's
 *   `received_at < cutoff` is the only query on it.
 *
 * SQLite keeps its indexes: there `readings.id` is the rowid, free, and
 * there is no BRIN.
 */
export class PostgresAppendIndexes1700000007000 implements MigrationInterface {
  name = 'PostgresAppendIndexes1700000007000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    const [pk] = (await q.query(
      `SELECT conname FROM pg_constraint WHERE conrelid = 'readings'::regclass AND contype = 'p'`,
    )) as { conname: string }[];
    if (pk) await q.query(`ALTER TABLE readings DROP CONSTRAINT "${pk.conname}"`);
    await q.query(`DROP INDEX events_received_idx`);
    await q.query(`CREATE INDEX events_received_idx ON events USING brin (received_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    await q.query(`DROP INDEX events_received_idx`);
    await q.query(`CREATE INDEX events_received_idx ON events (received_at)`);
    await q.query(`ALTER TABLE readings ADD CONSTRAINT readings_pkey PRIMARY KEY (id)`);
  }
}

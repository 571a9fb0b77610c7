import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ingest lease (issue #12): which instance of a share group ingests
 * from the broker now, and its epoch, the fencing token every batch it
 * commits is checked against (bus/ingest-fence.ts). Times are the
 * database's clock, so instances' clocks never have to agree. PostgreSQL
 * only: a SQLite file belongs to one process, which always holds the lease.
 */
export class IngestLeases1700000012000 implements MigrationInterface {
  name = 'IngestLeases1700000012000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    await q.query(
      `CREATE TABLE ingest_leases (name varchar(300) PRIMARY KEY, holder varchar(64) NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    await q.query(`DROP TABLE ingest_leases`);
  }
}

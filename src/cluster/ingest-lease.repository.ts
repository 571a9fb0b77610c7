import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/**
 * The `ingest_leases` rows (issue #12), on PostgreSQL. Every expiry is set
 * and compared by the database's clock, so no two instances' clocks are
 * ever compared. Each statement is one round trip.
 */
@Injectable()
export class IngestLeaseRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Takes the lease when it is free (never held, released, or expired) and
   * returns the new epoch; undefined while someone else holds it. A
   * takeover waits for the share locks of the batches the last holder is
   * committing (bus/postgres-event-log.repository.ts), and every later one
   * of its batches sees the new epoch.
   */
  async acquire(name: string, holder: string, ttlMs: number): Promise<number | undefined> {
    const rows = await this.db.query<{ epoch: string }[]>(
      `INSERT INTO ingest_leases AS l (name, holder, epoch, expires_at)
         VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET holder = $2, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
         WHERE l.expires_at < clock_timestamp()
       RETURNING epoch`,
      [name, holder, ttlMs],
    );
    return rows.length === 0 ? undefined : Number(rows[0].epoch);
  }

  /** Extends the lease; false when it is no longer this holder's epoch. */
  async renew(name: string, holder: string, epoch: number, ttlMs: number): Promise<boolean> {
    const result: unknown = await this.db.query(
      `UPDATE ingest_leases SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
         WHERE name = $1 AND holder = $2 AND epoch = $3`,
      [name, holder, epoch, ttlMs],
    );
    return affected(result) > 0;
  }

  /** Ends the lease now (a clean shutdown), so the next holder need not wait for it to expire. */
  async release(name: string, holder: string, epoch: number): Promise<void> {
    await this.db.query(
      `UPDATE ingest_leases SET expires_at = clock_timestamp() - interval '1 millisecond'
         WHERE name = $1 AND holder = $2 AND epoch = $3`,
      [name, holder, epoch],
    );
  }
}

/** Rows an UPDATE changed: TypeORM answers PostgreSQL's UPDATE with `[rows, rowCount]`. */
function affected(result: unknown): number {
  return Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
}

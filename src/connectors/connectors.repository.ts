import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BatchWriter } from '../database/batch-writer';
import { ConnectorRecord } from './connector.entity';

/** What one delivery step changes in a connector's row: figures added, the newest values set. */
export interface ConnectorDelta {
  cursorId: number;
  deliveries: number;
  failures: number;
  eventsDelivered: number;
  lastStatus?: number | null;
  lastError?: string | null;
  lastAttemptAt?: number;
  lastSuccessAt?: number;
  failingSince: number | null;
}

/**
 * Owns the `connectors` table. Definitions and operator changes go through
 * TypeORM on the main connection (rare). The delivering instance's writes
 * (lease renewals, cursor commits) go through the BatchWriter, so on SQLite
 * they join the writer thread's transactions instead of blocking the event
 * loop on its lock. Lease times are the database's clock, so instances
 * whose clocks differ still agree on when a lease has run out.
 */
@Injectable()
export class ConnectorsRepository {
  private readonly postgres: boolean;
  /** Now in ms since the epoch, by the database's clock. */
  private readonly now: string;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly writer: BatchWriter,
  ) {
    this.postgres = db.options.type === 'postgres';
    this.now = this.postgres
      ? '(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint'
      : "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
  }

  /** `?` placeholders in the driver's own marks. */
  private sql(text: string): string {
    let n = 0;
    return this.postgres ? text.replace(/\?/g, () => `$${++n}`) : text;
  }

  all(): Promise<ConnectorRecord[]> {
    return this.db.getRepository(ConnectorRecord).find({ order: { name: 'ASC' } });
  }

  async find(name: string): Promise<ConnectorRecord | undefined> {
    return (await this.db.getRepository(ConnectorRecord).findOneBy({ name })) ?? undefined;
  }

  async insert(record: ConnectorRecord): Promise<void> {
    await this.db.getRepository(ConnectorRecord).insert(record);
  }

  /** Changes an operator made; the version moves so the delivering instance reloads the row. */
  async change(name: string, fields: Partial<ConnectorRecord>): Promise<boolean> {
    const result = await this.db
      .createQueryBuilder()
      .update(ConnectorRecord)
      .set({ ...fields, version: () => 'version + 1', updatedAt: Date.now() })
      .where('name = :name', { name })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /** Moves the cursor for a replay, under a new epoch: commits of the old one are refused from now on. */
  async replay(name: string, cursorId: number): Promise<boolean> {
    const result = await this.db
      .createQueryBuilder()
      .update(ConnectorRecord)
      .set({
        cursorId,
        cursorEpoch: () => 'cursor_epoch + 1',
        version: () => 'version + 1',
        failingSince: null,
        updatedAt: Date.now(),
      })
      .where('name = :name', { name })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  async delete(name: string): Promise<boolean> {
    const result = await this.db.getRepository(ConnectorRecord).delete({ name });
    return (result.affected ?? 0) > 0;
  }

  /**
   * Renews this instance's leases and takes those nobody holds or whose
   * holder stopped renewing. PostgreSQL re-checks the condition on a row
   * another instance just claimed (READ COMMITTED), so one instance wins it.
   */
  async claim(owner: string, ttlMs: number): Promise<void> {
    await this.writer.run([
      {
        sql: this.sql(
          `UPDATE connectors SET lease_owner = ?, lease_until = ${this.now} + ? WHERE lease_owner = ? OR lease_owner IS NULL OR lease_until < ${this.now}`,
        ),
        params: [owner, ttlMs, owner],
      },
    ]);
  }

  /** Gives up this instance's leases (a clean shutdown), so another instance takes over at once. */
  async release(owner: string): Promise<void> {
    await this.writer.run([
      {
        sql: this.sql(`UPDATE connectors SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?`),
        params: [owner],
      },
    ]);
  }

  /**
   * Commits a delivery step: only while `owner` holds the lease and no
   * replay has moved the cursor since (`epoch`). False when refused: the
   * caller is no longer the one to deliver from this cursor.
   */
  async commit(name: string, owner: string, epoch: number, d: ConnectorDelta): Promise<boolean> {
    const [changed] = await this.writer.run([
      {
        sql: this.sql(
          `UPDATE connectors SET cursor_id = ?, deliveries = deliveries + ?, failures = failures + ?, ` +
            `events_delivered = events_delivered + ?, last_status = COALESCE(?, last_status), ` +
            `last_error = CASE WHEN ? = 1 THEN ? ELSE last_error END, last_attempt_at = COALESCE(?, last_attempt_at), ` +
            `last_success_at = COALESCE(?, last_success_at), failing_since = ? ` +
            `WHERE name = ? AND lease_owner = ? AND cursor_epoch = ?`,
        ),
        params: [
          d.cursorId,
          d.deliveries,
          d.failures,
          d.eventsDelivered,
          d.lastStatus ?? null,
          d.lastError !== undefined ? 1 : 0,
          d.lastError ?? null,
          d.lastAttemptAt ?? null,
          d.lastSuccessAt ?? null,
          d.failingSince,
          name,
          owner,
          epoch,
        ],
      },
    ]);
    return changed > 0;
  }

  /** When the first event after `cursorId` was received (ms), or undefined when none is logged after it. */
  async receivedAfter(cursorId: number): Promise<number | undefined> {
    const rows = await this.db.query<{ received_at: string | number }[]>(
      this.sql(`SELECT received_at FROM events WHERE id > ? ORDER BY id ASC LIMIT 1`),
      [cursorId],
    );
    return rows[0] === undefined ? undefined : Number(rows[0].received_at);
  }

  /** The first event id received at or after `ms`, or undefined when none is. */
  async firstIdSince(ms: number): Promise<number | undefined> {
    const rows = await this.db.query<{ id: string | number | null }[]>(
      this.sql(`SELECT MIN(id) AS id FROM events WHERE received_at >= ?`),
      [ms],
    );
    const id = rows[0]?.id;
    return id === null || id === undefined ? undefined : Number(id);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';
import { Table } from 'typeorm';

/**
 * Data connectors (issue #16): each row is a webhook's definition, its
 * durable cursor in the event log, the lease that lets one instance deliver
 * it, and the figures operators read.
 */
export class Connectors1700000010000 implements MigrationInterface {
  name = 'Connectors1700000010000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'connectors',
        columns: [
          { name: 'name', type: 'varchar', length: '128', isPrimary: true },
          { name: 'url', type: 'text' },
          { name: 'filter', type: 'text' },
          { name: 'batch_size', type: 'integer' },
          { name: 'timeout_ms', type: 'integer' },
          { name: 'headers', type: 'text' },
          { name: 'secret', type: 'varchar', length: '256' },
          { name: 'paused', type: 'boolean' },
          { name: 'source', type: 'varchar', length: '16' },
          { name: 'version', type: 'integer' },
          { name: 'cursor_id', type: 'bigint' },
          { name: 'cursor_epoch', type: 'integer' },
          { name: 'lease_owner', type: 'varchar', length: '64', isNullable: true },
          { name: 'lease_until', type: 'bigint' },
          { name: 'deliveries', type: 'bigint' },
          { name: 'failures', type: 'bigint' },
          { name: 'events_delivered', type: 'bigint' },
          { name: 'last_status', type: 'integer', isNullable: true },
          { name: 'last_error', type: 'text', isNullable: true },
          { name: 'last_attempt_at', type: 'bigint', isNullable: true },
          { name: 'last_success_at', type: 'bigint', isNullable: true },
          { name: 'failing_since', type: 'bigint', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('connectors');
  }
}

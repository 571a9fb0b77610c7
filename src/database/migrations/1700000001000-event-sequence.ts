import type { MigrationInterface, QueryRunner } from 'typeorm';
import { Table } from 'typeorm';

/**
 * The event log's position counter, one row. Every append bumps it inside
 * its own transaction, so ids are gap-free and, with several instances on
 * one PostgreSQL, commit order is id order (the row lock serialises writers).
 */
export class EventSequence1700000001000 implements MigrationInterface {
  name = 'EventSequence1700000001000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'event_sequence',
        columns: [
          { name: 'name', type: 'varchar', length: '32', isPrimary: true },
          { name: 'last_id', type: 'bigint' },
        ],
      }),
    );
    await q.query(`INSERT INTO event_sequence (name, last_id) SELECT 'events', COALESCE(MAX(id), 0) FROM events`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('event_sequence');
  }
}

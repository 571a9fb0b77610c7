import type { MigrationInterface, QueryRunner } from 'typeorm';
import { Table } from 'typeorm';

/** Where each polling client left off (issue #3, "since last poll"), shared by every instance. */
export class PollPositions1700000005000 implements MigrationInterface {
  name = 'PollPositions1700000005000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'poll_positions',
        columns: [
          { name: 'client_key', type: 'varchar', length: '200', isPrimary: true },
          { name: 'selection', type: 'varchar', length: '400', isPrimary: true },
          { name: 'last_id', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('poll_positions');
  }
}

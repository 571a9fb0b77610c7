import type { MigrationInterface, QueryRunner } from 'typeorm';
import { Table } from 'typeorm';

/** Room bindings made through the admin API (issue #4), kept across restarts. */
export class SignallingRooms1700000004000 implements MigrationInterface {
  name = 'SignallingRooms1700000004000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'signalling_rooms',
        columns: [
          { name: 'room', type: 'varchar', length: '256', isPrimary: true },
          { name: 'channels', type: 'text' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('signalling_rooms');
  }
}

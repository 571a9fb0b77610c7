import type { MigrationInterface, QueryRunner } from 'typeorm';
import { Table, TableIndex } from 'typeorm';

/** The first schema: event log, device registry, readings, rejects, MQTT credentials. */
export class InitialSchema1700000000000 implements MigrationInterface {
  name = 'InitialSchema1700000000000';

  async up(q: QueryRunner): Promise<void> {
    const sqlite = q.connection.options.type === 'better-sqlite3';
    // SQLite only auto-increments an INTEGER PRIMARY KEY.
    const serial = {
      type: sqlite ? 'integer' : 'bigint',
      isPrimary: true,
      isGenerated: true,
      generationStrategy: 'increment' as const,
    };
    const str = (name: string, length: number, isNullable = false) => ({
      name,
      type: 'varchar',
      length: String(length),
      isNullable,
    });

    await q.createTable(
      new Table({
        name: 'events',
        columns: [
          { name: 'id', type: 'bigint', isPrimary: true },
          str('event', 64),
          str('device_type', 128),
          str('device_id', 128),
          { name: 'received_at', type: 'bigint' },
          { name: 'body', type: 'text' },
        ],
        indices: [
          new TableIndex({ name: 'events_device_idx', columnNames: ['device_type', 'device_id', 'id'] }),
          new TableIndex({ name: 'events_received_idx', columnNames: ['received_at'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({ name: 'event_log_meta', columns: [{ ...str('key', 64), isPrimary: true }, str('value', 255)] }),
    );
    await q.createTable(
      new Table({
        name: 'devices',
        columns: [
          { ...str('device_type', 128), isPrimary: true },
          { ...str('device_id', 128), isPrimary: true },
          str('status', 32),
          { name: 'first_seen', type: 'bigint' },
          { name: 'last_seen', type: 'bigint' },
          { name: 'battery_level', type: 'double precision', isNullable: true },
          str('firmware_version', 64, true),
          { name: 'latest_readings', type: 'text' },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'readings',
        columns: [
          { name: 'id', ...serial },
          str('device_type', 128),
          str('device_id', 128),
          str('name', 128),
          { name: 'value', type: 'double precision', isNullable: true },
          { name: 'text_value', type: 'text', isNullable: true },
          { name: 'ts', type: 'bigint' },
        ],
        indices: [new TableIndex({ name: 'readings_device_ts_idx', columnNames: ['device_type', 'device_id', 'ts'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'rejects',
        columns: [
          { name: 'id', ...serial },
          { name: 'received_at', type: 'bigint' },
          { name: 'topic', type: 'text' },
          str('reason', 32),
          { name: 'detail', type: 'text' },
          { name: 'payload', type: 'text' },
          str('payload_encoding', 8),
          { name: 'payload_size', type: 'integer' },
        ],
        indices: [new TableIndex({ name: 'rejects_received_idx', columnNames: ['received_at'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'mqtt_credentials',
        columns: [
          { ...str('username', 255), isPrimary: true },
          { name: 'password_hash', type: 'text' },
          str('kind', 16),
          str('device_type', 128, true),
          str('device_id', 128, true),
          { name: 'topics', type: 'text', isNullable: true },
          { name: 'created_at', type: 'bigint' },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['mqtt_credentials', 'rejects', 'readings', 'devices', 'event_log_meta', 'events']) {
      await q.dropTable(table);
    }
  }
}

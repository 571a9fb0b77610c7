import type { DataSource } from 'typeorm';
import type { BatchWriter } from '../database/batch-writer';
import { BulkInsert } from '../database/bulk-insert';
import type { Device } from './device.entity';
import type { Samples, WriteKey } from './devices.repository';
import {
  BATCH_KEY_TTL_MS,
  DEVICE_COLUMNS,
  DEVICE_UPSERT,
  DevicesRepository,
  READING_COLUMNS,
  deviceRow,
  isNumber,
  keyLookup,
  setKey,
} from './devices.repository';

/** Rows per SQLite statement: 6 or 8 parameters each, far below SQLite's 32,766. */
const READINGS_PER_STATEMENT = 1000;
const DEVICES_PER_STATEMENT = 500;

/**
 * Devices and readings on SQLite, which one process writes: device keys are
 * counted here, and each write is one job of multi-row statements for the
 * BatchWriter's thread.
 */
export class SqliteDevicesRepository extends DevicesRepository {
  private readonly insertDevices = new BulkInsert(
    'devices',
    [...DEVICE_COLUMNS, { name: 'device_key', pgType: 'bigint' }],
    false,
    DEVICE_UPSERT,
    DEVICES_PER_STATEMENT,
  );
  private readonly insertReadings = new BulkInsert('readings', READING_COLUMNS, false, '', READINGS_PER_STATEMENT);
  /** The next key to hand out. */
  private nextKey = 1;

  constructor(db: DataSource, writer: BatchWriter) {
    super(db, writer);
  }

  protected param(): string {
    return '?';
  }

  protected sawKey(key: number): void {
    if (key >= this.nextKey) this.nextKey = key + 1;
  }

  async write(devices: readonly Device[], samples: readonly Samples[], batch?: WriteKey): Promise<void> {
    const keys = await this.deviceKeys();
    // The writer thread committed before it could answer: the main connection sees the commit (WAL).
    if (await this.committedBefore(batch)) return;
    const deviceValues: unknown[] = [];
    for (const d of devices) {
      let key = keys.get(d.deviceType)?.get(d.deviceId);
      if (key === undefined) setKey(keys, d.deviceType, d.deviceId, (key = this.nextKey++));
      deviceValues.push(...deviceRow(d), key);
    }
    const readingValues: unknown[] = [];
    const keyOf = keyLookup(keys);
    for (const s of samples) {
      const key = keyOf(s);
      for (const name of Object.keys(s.data)) {
        const value = s.data[name];
        if (value === undefined) continue;
        if (isNumber(value)) readingValues.push(key, name, value, null, s.ts);
        else readingValues.push(key, name, null, JSON.stringify(value), s.ts);
      }
    }
    const statements = [
      ...this.insertDevices.statements(deviceValues),
      ...this.insertReadings.statements(readingValues),
    ];
    if (statements.length === 0) return;
    if (batch !== undefined) {
      const now = Date.now();
      // The writer's previous key (no retry can name it now) and keys a stopped instance left behind.
      statements.push(
        {
          sql: `DELETE FROM reading_batches WHERE batch_key = ? OR written_at < ?`,
          params: [batch.forget ?? '', now - BATCH_KEY_TTL_MS],
        },
        { sql: `INSERT INTO reading_batches (batch_key, written_at) VALUES (?, ?)`, params: [batch.key, now] },
      );
    }
    // Nobody waits for these rows: they ride with the event log's next job (one wake-up, one commit).
    await this.writer.runLater(statements);
  }
}

import type { DataSource } from 'typeorm';
import type { BatchWriter } from '../database/batch-writer';
import { BulkInsert } from '../database/bulk-insert';
import type { Device } from './device.entity';
import type { Samples } from './device-rows';
import { DEVICE_COLUMNS, DEVICE_UPSERT, READING_COLUMNS, deviceRow, isNumber, keyLookup, setKey } from './device-rows';
import type { ProjectionStep } from './devices.repository';
import { DevicesRepository } from './devices.repository';

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

  async write(devices: readonly Device[], samples: readonly Samples[], step?: ProjectionStep): Promise<void> {
    const keys = await this.deviceKeys();
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
    if (statements.length === 0 && step === undefined) return;
    // One process writes the file; still, the position moves only from `after` (a job whose UPDATE changes no
    // row is undone), and a retry reads it first (DeviceWriterService).
    if (step !== undefined)
      statements.push({
        sql: `UPDATE projections SET last_id = ? WHERE name = 'devices' AND last_id = ?`,
        params: [step.upTo, step.after],
        expectChanges: 1,
      });
    // Nobody waits for these rows: they ride with the event log's next job (one wake-up, one commit).
    await this.writer.runLater(statements);
  }
}

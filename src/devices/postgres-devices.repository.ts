import type { DataSource } from 'typeorm';
import type { BatchWriter } from '../database/batch-writer';
import { BulkInsert } from '../database/bulk-insert';
import { CopyFields, copyField, copyIn, copyJson } from '../database/pg-copy';
import type { Device } from './device.entity';
import type { Samples } from './device-rows';
import { DEVICE_COLUMNS, DEVICE_UPSERT, READING_COLUMNS, deviceRow, isNumber, keyLookup, setKey } from './device-rows';
import type { ProjectionStep } from './devices.repository';
import { DevicesRepository, ProjectionMovedError } from './devices.repository';

const READING_COLUMN_NAMES = READING_COLUMNS.map((c) => c.name);

/**
 * Devices and readings on PostgreSQL, which several instances may share:
 * the identity column makes device keys and the upsert returns them; the
 * readings then go in by COPY, in the same transaction.
 */
export class PostgresDevicesRepository extends DevicesRepository {
  private readonly insertDevices = new BulkInsert(
    'devices',
    DEVICE_COLUMNS,
    true,
    `${DEVICE_UPSERT} RETURNING device_type, device_id, device_key`,
  );
  /** Reading names in COPY form. */
  private readonly fields = new CopyFields();

  constructor(db: DataSource, writer: BatchWriter) {
    super(db, writer);
  }

  protected param(n: number): string {
    return `$${n}`;
  }

  protected sawKey(): void {
    // The identity column hands keys out.
  }

  async write(devices: readonly Device[], samples: readonly Samples[], step?: ProjectionStep): Promise<void> {
    const keys = await this.deviceKeys();
    if (devices.length === 0 && samples.length === 0 && step === undefined) return;
    await this.db.transaction(async (tx) => {
      const runner = tx.queryRunner;
      if (!runner) throw new Error('transaction without a query runner');
      if (step !== undefined) {
        // First: the row lock orders projectors, and a write whose events are stored already stores nothing.
        const moved = await runner.query(
          `UPDATE projections SET last_id = $1 WHERE name = 'devices' AND last_id = $2`,
          [step.upTo, step.after],
          true,
        );
        if (moved.affected !== 1) throw new ProjectionMovedError(step);
      }
      const deviceValues: unknown[] = [];
      for (const d of devices) deviceValues.push(...deviceRow(d));
      for (const { sql, params } of this.insertDevices.statements(deviceValues)) {
        const upserted = await runner.query(sql, params, true);
        for (const row of upserted.records as { device_type: string; device_id: string; device_key: number }[])
          setKey(keys, row.device_type, row.device_id, Number(row.device_key));
      }
      if (samples.length === 0) return;
      const keyOf = keyLookup(keys);
      let text = '';
      for (const s of samples) {
        const key = `${keyOf(s)}\t`;
        const ts = `\t${copyField(s.ts)}\n`;
        for (const name of Object.keys(s.data)) {
          const value = s.data[name];
          if (value === undefined) continue;
          const values = isNumber(value) ? `\t${value}\t\\N` : `\t\\N\t${copyJson(JSON.stringify(value))}`;
          text += key + this.fields.get(name) + values + ts;
        }
      }
      if (text !== '') await copyIn(runner, 'readings', READING_COLUMN_NAMES, text);
    });
  }
}

import type { BulkColumn } from '../database/bulk-insert';
import type { Device } from './device.entity';

/**
 * How the devices projection's rows are made, the part both stores
 * (SqliteDevicesRepository, PostgresDevicesRepository) share: the columns
 * they fill, a device's row, a data event's samples and their device keys.
 */

/**
 * A data event's samples on their way to the `readings` table: one row per
 * entry of `data` (undefined values skipped), all at `ts`. The writer keeps
 * the event's own `data` rather than a row object per sample: those lived
 * through several young-generation collections while a write ran, and
 * copying them cost ingestion more than writing them did.
 */
export interface Samples {
  deviceType: string;
  deviceId: string;
  /** Sample time, ms since the epoch. */
  ts: number;
  /** Reading name → value; numbers go to `value`, anything else to `text_value` as JSON. */
  data: Readonly<Record<string, unknown>>;
}

/** How many readings rows `data` makes. */
export function readingCount(data: Readonly<Record<string, unknown>>): number {
  let count = 0;
  for (const name of Object.keys(data)) if (data[name] !== undefined) count++;
  return count;
}

/** type → id → device_key. */
export type DeviceKeys = Map<string, Map<string, number>>;

/** The readings columns a write fills. */
export const READING_COLUMNS: BulkColumn[] = [
  { name: 'device_key', pgType: 'bigint' },
  { name: 'name', pgType: 'varchar' },
  { name: 'value', pgType: 'float8' },
  { name: 'text_value', pgType: 'text' },
  { name: 'ts', pgType: 'bigint' },
];
/** The devices columns a write fills (SQLite adds `device_key`, which it counts itself). */
export const DEVICE_COLUMNS: BulkColumn[] = [
  { name: 'device_type', pgType: 'varchar' },
  { name: 'device_id', pgType: 'varchar' },
  { name: 'status', pgType: 'varchar' },
  { name: 'first_seen', pgType: 'bigint' },
  { name: 'last_seen', pgType: 'bigint' },
  { name: 'battery_level', pgType: 'float8' },
  { name: 'firmware_version', pgType: 'varchar' },
  { name: 'latest_readings', pgType: 'text' },
];
/** On a known device everything but its key and first sighting is replaced. */
export const DEVICE_UPSERT = ` ON CONFLICT (device_type, device_id) DO UPDATE SET ${DEVICE_COLUMNS.map((c) => c.name)
  .filter((c) => !['device_type', 'device_id', 'first_seen'].includes(c))
  .map((c) => `${c} = excluded.${c}`)
  .join(', ')}`;

/** A device's columns in DEVICE_COLUMNS order. */
export function deviceRow(d: Device): unknown[] {
  return [
    d.deviceType,
    d.deviceId,
    d.status,
    d.firstSeen,
    d.lastSeen,
    d.batteryLevel,
    d.firmwareVersion,
    JSON.stringify(d.latestReadings),
  ];
}

export function setKey(keys: DeviceKeys, type: string, id: string, key: number): void {
  let ofType = keys.get(type);
  if (ofType === undefined) keys.set(type, (ofType = new Map<string, number>()));
  ofType.set(id, key);
}

/** Numbers that go to `readings.value`; everything else is stored as JSON text. */
export function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A sample's device key; consecutive samples of one device look it up once. */
export function keyLookup(keys: DeviceKeys): (s: { deviceType: string; deviceId: string }) => number {
  let lastType: string | undefined;
  let lastId: string | undefined;
  let lastKey = 0;
  return (r) => {
    if (r.deviceId === lastId && r.deviceType === lastType) return lastKey;
    const key = keys.get(r.deviceType)?.get(r.deviceId);
    if (key === undefined) throw new Error(`reading of ${r.deviceType}/${r.deviceId}, a device never written`);
    lastType = r.deviceType;
    lastId = r.deviceId;
    return (lastKey = key);
  };
}

import { InvalidRequestError } from '../common/domain-error';
import { NAME_PATTERN } from '../common/validate';
import type { Device } from './device.entity';
import type { Bucket, ReadingRow } from './devices.repository';

export const DEFAULT_DEVICES_LIMIT = 1000;
export const MAX_DEVICES_LIMIT = 10_000;

/** A device as `GET /api/devices` answers it. */
export interface DeviceView {
  device_type: string;
  device_id: string;
  status: string;
  first_seen: string;
  last_seen: string;
  battery_level: number | null;
  firmware_version: string | null;
  /** `{name: {value, timestamp}}`: each reading's most recent sample. */
  latest_readings: Record<string, { value: unknown; timestamp: string }>;
}

export function deviceView(d: Readonly<Device>): DeviceView {
  return {
    device_type: d.deviceType,
    device_id: d.deviceId,
    status: d.status,
    first_seen: new Date(d.firstSeen).toISOString(),
    last_seen: new Date(d.lastSeen).toISOString(),
    battery_level: d.batteryLevel,
    firmware_version: d.firmwareVersion,
    latest_readings: d.latestReadings,
  };
}

export interface ReadingView {
  timestamp: string;
  name: string;
  value: unknown;
}

export function readingView(r: ReadingRow): ReadingView {
  return {
    timestamp: new Date(r.ts).toISOString(),
    name: r.name,
    value: r.value ?? (r.textValue === null ? null : JSON.parse(r.textValue)),
  };
}

export interface BucketView {
  /** Start of the interval. */
  timestamp: string;
  name: string;
  value: number | null;
}

export function bucketView(b: Bucket): BucketView {
  return { timestamp: new Date(b.start).toISOString(), name: b.name, value: b.value };
}

/** `GET /api/devices` filters and page. */
export interface DeviceListQuery {
  deviceType?: string;
  status?: string;
  limit: number;
  offset: number;
}

export function parseDeviceListQuery(query: Record<string, unknown>): DeviceListQuery {
  const problems: Record<string, string> = {};
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined || value === '') return undefined;
    if (typeof value === 'string') return value;
    problems[name] = 'must be given once';
    return undefined;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const value = text(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
      problems[name] = `must be an integer from ${min} to ${max}`;
    return Number(value);
  };
  const deviceType = text('device_type');
  if (deviceType !== undefined && !NAME_PATTERN.test(deviceType)) problems.device_type = 'must be a device type';
  const status = text('status');
  if (status !== undefined && !/^[a-z_]{1,32}$/.test(status))
    problems.status = 'must be a status such as online or offline';
  const limit = integer('limit', DEFAULT_DEVICES_LIMIT, 1, MAX_DEVICES_LIMIT);
  const offset = integer('offset', 0, 0, Number.MAX_SAFE_INTEGER);
  if (Object.keys(problems).length > 0) throw new InvalidRequestError(problems);
  return {
    ...(deviceType !== undefined ? { deviceType } : {}),
    ...(status !== undefined ? { status } : {}),
    limit,
    offset,
  };
}

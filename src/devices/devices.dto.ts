import { z } from 'zod';
import { NAME_PATTERN, queryNumber, queryText } from '../common/validate';
import { ref } from '../docs/openapi.schemas';
import type { Schema } from '../docs/openapi.types';
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

/** `?device_type=`, `?status=`, `?limit=` (1000, at most 10000), `?offset=`. */
export const DEVICE_LIST_QUERY = z
  .object({
    device_type: queryText(NAME_PATTERN, 'must be a device type').meta({ description: 'Only this type.' }),
    status: queryText(/^[a-z_]{1,32}$/, 'must be a status such as online or offline').meta({
      description: 'Only this status, e.g. `online`.',
    }),
    limit: queryNumber({
      min: 1,
      max: MAX_DEVICES_LIMIT,
      fallback: DEFAULT_DEVICES_LIMIT,
      message: `must be an integer from 1 to ${MAX_DEVICES_LIMIT}`,
    }).meta({ description: `Page size (default ${DEFAULT_DEVICES_LIMIT}).` }),
    offset: queryNumber({
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      fallback: 0,
      message: `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}`,
    }).meta({ description: 'Devices to skip (default 0).' }),
  })
  .transform((q): DeviceListQuery => ({
    ...(q.device_type !== undefined ? { deviceType: q.device_type } : {}),
    ...(q.status !== undefined ? { status: q.status } : {}),
    limit: q.limit,
    offset: q.offset,
  }));

/** What `GET …/readings` answers (documented in /docs). */
export const READINGS_ANSWER: Schema = {
  oneOf: [
    {
      type: 'object',
      required: ['device_type', 'device_id', 'readings'],
      properties: {
        device_type: { type: 'string' },
        device_id: { type: 'string' },
        readings: { type: 'array', items: ref('Reading') },
      },
    },
    {
      type: 'object',
      required: ['device_type', 'device_id', 'interval', 'agg', 'buckets'],
      properties: {
        device_type: { type: 'string' },
        device_id: { type: 'string' },
        interval: { type: 'string' },
        agg: { type: 'string' },
        buckets: { type: 'array', items: ref('Bucket') },
      },
    },
  ],
};

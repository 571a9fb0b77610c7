import { nameMap } from '../common/name-map';
import type { DeviceTypes } from '../config/device-types';
import type { CommandResponseMessage, DataMessage, IngestMessage, StatusMessage } from './ingest-message';

/**
 * The three device-to-server payloads (bridge.md, "MQTT (devices)"), parsed
 * from a JSON object into what the device service ingests. Each parser either
 * returns the message or throws `SchemaViolation` naming what is wrong. MQTT
 * (mqtt/mqtt-router.ts) and signalling device channels (issue #15) share them.
 */

/** Why a device message was dropped: the stable reason names of counters, logs and `GET /admin/rejects`. */
export const REJECT_REASONS = [
  'malformed_topic',
  'oversized',
  'not_json',
  /** Nested deeper than MAX_JSON_DEPTH, or an object with more than MAX_JSON_KEYS keys (issue #18). */
  'too_deep',
  'too_many_keys',
  'not_object',
  'undeclared_type',
  'schema_violation',
  /** Valid, yet the bridge failed to turn it into events: a bug, its stack in the detail. */
  'ingest_failed',
  /** The event log's database refused the message's event (issue #11): a value too long, a constraint. */
  'log_refused',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** The device-to-server kinds (`{prefix}/{type}/{id}/{kind}`). */
export type DevicePayloadKind = 'data' | 'status' | 'cmd/response';

export type ParsedPayload =
  { kind: 'message'; message: IngestMessage } | { kind: 'rejected'; reason: RejectReason; detail: string };

export class SchemaViolation extends Error {}

/** Statuses a device may report (bridge.md); a last will is one of them, usually `offline`. */
export const DEVICE_STATUSES = ['online', 'offline', 'error', 'maintenance', 'low_battery', 'provisioning'] as const;

/** Same bound as the `readings.name` column. */
const MAX_READING_NAME = 128;
/** Same bound as the `devices.firmware_version` column. */
const MAX_FIRMWARE_VERSION = 64;
const MAX_REQUEST_ID = 128;
/** Same bound as the `events.message_id` column. */
const MAX_MESSAGE_ID = 128;

type Json = Record<string, unknown>;
export type Origin = { deviceType: string; deviceId: string; receivedAt: number };
type Sample = DataMessage['samples'][number];

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Device time: an ISO 8601 string, normalised to `toISOString()` so every event's timestamp looks alike. */
function timestampOf(value: unknown, at: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new SchemaViolation(`${at}: must be an ISO 8601 date-time string`);
  return new Date(ms).toISOString();
}

/**
 * `message_id`: the device's own id for the message, so that a redelivery is
 * not logged twice (issue #11). Top-level in every payload; never a reading.
 */
function messageIdOf(obj: Json): string | undefined {
  const id = obj.message_id;
  if (id === undefined) return undefined;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_MESSAGE_ID)
    throw new SchemaViolation(`message_id: must be a string of 1 to ${MAX_MESSAGE_ID} characters`);
  return id;
}

const badName = (name: string): boolean => name.length === 0 || name.length > MAX_READING_NAME;
const nameError = (at: string): SchemaViolation =>
  new SchemaViolation(`${at}: a reading name is 1 to ${MAX_READING_NAME} characters`);

/**
 * A flat sample: every key but `timestamp` (and, for the payload itself,
 * `message_id`) is a reading. `at` names it in problems (`readings[2]`, or
 * '' for the payload). Without those keys the parsed object itself holds the
 * values (it is this message's own).
 */
function flatSample(obj: Json, at: string, fallbackTimestamp: string | undefined): Sample {
  const path = at === '' ? '' : `${at}.`;
  const names = Object.keys(obj);
  const reserved = (name: string): boolean => name === 'timestamp' || (at === '' && name === 'message_id');
  for (const name of names) if (!reserved(name) && badName(name)) throw nameError(`${path}${name}`);
  const stamped = 'timestamp' in obj;
  const own = (stamped ? 1 : 0) + (at === '' && 'message_id' in obj ? 1 : 0);
  if (names.length === own) throw new SchemaViolation(`${at || 'payload'}: holds no readings`);
  if (own === 0)
    return fallbackTimestamp === undefined ? { values: obj } : { timestamp: fallbackTimestamp, values: obj };
  const values = nameMap<unknown>();
  for (const name of names) if (!reserved(name)) values[name] = obj[name];
  const timestamp = timestampOf(obj.timestamp, `${path}timestamp`) ?? fallbackTimestamp;
  return timestamp === undefined ? { values } : { timestamp, values };
}

const isListItem = (item: Json): boolean => typeof item.type === 'string' && 'value' in item;
const LIST_ITEM_KEYS = new Set(['type', 'value', 'unit', 'timestamp']);

/**
 * `data`: flat `{"temperature": 25.3, "timestamp": …}`, a readings list
 * `{"readings": [{"type", "value", "unit"?, "timestamp"?}, …]}` (one sample per
 * distinct timestamp), or a batch `{"readings": [{…flat…}, …]}` (one sample each).
 * With `readings`, the only other keys are `timestamp`, the default for items
 * without one, and `message_id`.
 */
export function parseData(obj: Json, origin: Origin, types: DeviceTypes): DataMessage {
  const messageId = messageIdOf(obj);
  let samples: Sample[];
  if (!('readings' in obj)) {
    samples = [flatSample(obj, '', undefined)];
  } else {
    const readings = obj.readings;
    if (!Array.isArray(readings) || readings.length === 0) {
      throw new SchemaViolation('readings: must be a non-empty array');
    }
    for (const key of Object.keys(obj)) {
      if (key !== 'readings' && key !== 'timestamp' && key !== 'message_id') {
        throw new SchemaViolation(`${key}: next to readings only timestamp and message_id are allowed`);
      }
    }
    const shared = timestampOf(obj.timestamp, 'timestamp');
    if (!readings.every(isObject)) throw new SchemaViolation('readings: every item must be an object');
    const items: Json[] = readings;
    const list = isListItem(items[0]);
    items.forEach((item, i) => {
      if (isListItem(item) !== list) {
        throw new SchemaViolation(
          `readings[${i}]: a list of {type, value} items and a batch of samples cannot be mixed`,
        );
      }
    });
    samples = list ? listSamples(items, shared) : items.map((item, i) => flatSample(item, `readings[${i}]`, shared));
  }
  const problems: string[] = [];
  samples.forEach((sample, i) => {
    const found = types.validateReadings(origin.deviceType, sample.values);
    problems.push(...(samples.length > 1 ? found.map((p) => `readings[${i}].${p}`) : found));
  });
  if (problems.length > 0) throw new SchemaViolation(problems.join('; '));
  const message: DataMessage = { kind: 'data', ...origin, samples };
  if (messageId !== undefined) message.messageId = messageId;
  return message;
}

function listSamples(items: Json[], shared: string | undefined): Sample[] {
  const byTime = new Map<string | undefined, Record<string, unknown>>();
  items.forEach((item, i) => {
    for (const key of Object.keys(item)) {
      if (!LIST_ITEM_KEYS.has(key))
        throw new SchemaViolation(`readings[${i}].${key}: a list item has type, value, unit, timestamp`);
    }
    const name = item.type as string;
    if (badName(name)) throw nameError(`readings[${i}].type`);
    const timestamp = timestampOf(item.timestamp, `readings[${i}].timestamp`) ?? shared;
    let values = byTime.get(timestamp);
    if (values === undefined) byTime.set(timestamp, (values = nameMap()));
    values[name] = item.value;
  });
  return [...byTime].map(([timestamp, values]) => (timestamp === undefined ? { values } : { timestamp, values }));
}

/** `status`: `{"status", "battery_level"?, "firmware_version"?, "timestamp"?, "message_id"?, …}`; other keys pass through. */
export function parseStatus(obj: Json, origin: Origin): StatusMessage {
  const { status, battery_level: battery, firmware_version: firmware, timestamp, message_id: _, ...extra } = obj;
  const messageId = messageIdOf(obj);
  if (typeof status !== 'string' || !(DEVICE_STATUSES as readonly string[]).includes(status)) {
    throw new SchemaViolation(`status: must be one of ${DEVICE_STATUSES.join(', ')}`);
  }
  const message: StatusMessage = { kind: 'status', ...origin, status, extra };
  if (messageId !== undefined) message.messageId = messageId;
  if (battery !== undefined) {
    if (typeof battery !== 'number' || !(battery >= 0 && battery <= 100)) {
      throw new SchemaViolation('battery_level: must be a number from 0 to 100');
    }
    message.batteryLevel = battery;
  }
  if (firmware !== undefined) {
    if (typeof firmware !== 'string' || firmware.length > MAX_FIRMWARE_VERSION) {
      throw new SchemaViolation(`firmware_version: must be a string of at most ${MAX_FIRMWARE_VERSION} characters`);
    }
    message.firmwareVersion = firmware;
  }
  const ts = timestampOf(timestamp, 'timestamp');
  if (ts !== undefined) message.timestamp = ts;
  return message;
}

/** `cmd/response`: `{"request_id", "result"}` or `{"request_id", "error": "…"}`, exactly one of the two. */
export function parseCommandResponse(obj: Json, origin: Origin): CommandResponseMessage {
  const requestId = obj.request_id;
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > MAX_REQUEST_ID) {
    throw new SchemaViolation(`request_id: must be a string of 1 to ${MAX_REQUEST_ID} characters`);
  }
  const hasResult = 'result' in obj;
  const hasError = 'error' in obj;
  if (hasResult === hasError) throw new SchemaViolation('must carry exactly one of result and error');
  if (hasError && typeof obj.error !== 'string') throw new SchemaViolation('error: must be a string');
  const messageId = messageIdOf(obj);
  const message: CommandResponseMessage = { kind: 'command_response', ...origin, requestId };
  if (messageId !== undefined) message.messageId = messageId;
  if (hasError) message.error = obj.error as string;
  else message.result = obj.result;
  const ts = timestampOf(obj.timestamp, 'timestamp');
  if (ts !== undefined) message.timestamp = ts;
  return message;
}

/**
 * A device's payload, already parsed from JSON, as the message its kind
 * makes, or the reason to drop it: an undeclared type, not an object, or
 * against the payload's schema (what is left once the transport has checked
 * the size, depth and keys of the raw text and parsed it).
 */
export function parseDevicePayload(
  kind: DevicePayloadKind,
  body: unknown,
  origin: Origin,
  types: DeviceTypes,
): ParsedPayload {
  if (!types.isAccepted(origin.deviceType)) {
    return rejected(
      'undeclared_type',
      `device type ${origin.deviceType} is not declared and undeclared types are refused`,
    );
  }
  if (!isObject(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`;
    return rejected('not_object', `expected a JSON object, got ${got}`);
  }
  try {
    switch (kind) {
      case 'data':
        return { kind: 'message', message: parseData(body, origin, types) };
      case 'status':
        return { kind: 'message', message: parseStatus(body, origin) };
      case 'cmd/response':
        return { kind: 'message', message: parseCommandResponse(body, origin) };
    }
  } catch (err) {
    if (err instanceof SchemaViolation) return rejected('schema_violation', err.message);
    throw err;
  }
}

function rejected(reason: RejectReason, detail: string): ParsedPayload {
  return { kind: 'rejected', reason, detail };
}

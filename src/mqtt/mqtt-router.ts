import type { DeviceTypes } from '../config/device-types';
import type { JsonLimits } from '../common/json-limits';
import { jsonTextProblem } from '../common/json-limits';
import { NAME_PATTERN } from '../common/validate';
import type { IngestMessage } from '../devices/ingest-message';
import { SchemaViolation, parseCommandResponse, parseData, parseStatus } from './device-payloads';

/** Why a message was dropped: the stable reason names of counters, logs and `GET /admin/rejects`. */
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

export type RouteResult =
  | { kind: 'message'; message: IngestMessage }
  /** Server-to-device traffic (`…/cmd`) seen on the bridge's own subscription. */
  | { kind: 'ignored' }
  | { kind: 'rejected'; reason: RejectReason; detail: string };

export interface RouterOptions {
  topicPrefix: string;
  /** Bytes (`MAX_MESSAGE_SIZE`). */
  maxMessageSize: number;
  /** `MAX_JSON_DEPTH` and `MAX_JSON_KEYS`. */
  json: JsonLimits;
}

/**
 * Turns one MQTT message into a typed device message or a reason to drop it
 * (bridge.md, "MQTT (devices)"): `{prefix}/{device_type}/{device_id}/{kind}`
 * with kind `data`, `status` or `cmd/response`. Pure: no I/O, no clock.
 * Checks run cheapest first: topic, declared type, size, depth and keys
 * (on the raw bytes, before anything parses them), JSON, shape, schema.
 */
export class MqttRouter {
  private readonly prefix: string;

  constructor(
    private readonly options: RouterOptions,
    private readonly types: DeviceTypes,
  ) {
    this.prefix = `${options.topicPrefix}/`;
  }

  route(topic: string, payload: Buffer, receivedAt: number): RouteResult {
    const levels = topic.startsWith(this.prefix) ? topic.slice(this.prefix.length).split('/') : [];
    const [deviceType, deviceId, kind, sub] = levels;
    const shape =
      levels.length === 3 && (kind === 'data' || kind === 'status' || kind === 'cmd')
        ? kind
        : levels.length === 4 && kind === 'cmd' && sub === 'response'
          ? 'cmd/response'
          : undefined;
    if (shape === undefined || !NAME_PATTERN.test(deviceType) || !NAME_PATTERN.test(deviceId)) {
      return reject(
        'malformed_topic',
        `expected ${this.options.topicPrefix}/{device_type}/{device_id}/data, /status or /cmd/response`,
      );
    }
    if (shape === 'cmd') return { kind: 'ignored' };
    if (!this.types.isAccepted(deviceType)) {
      return reject('undeclared_type', `device type ${deviceType} is not declared and undeclared types are refused`);
    }
    if (payload.length > this.options.maxMessageSize) {
      return reject('oversized', `${payload.length} bytes is over MAX_MESSAGE_SIZE (${this.options.maxMessageSize})`);
    }
    const tooBig = jsonTextProblem(payload, this.options.json);
    if (tooBig !== undefined) return reject(tooBig.code, tooBig.message);
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return reject('not_json', (err as Error).message);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`;
      return reject('not_object', `expected a JSON object, got ${got}`);
    }
    const obj = body as Record<string, unknown>;
    const origin = { deviceType, deviceId, receivedAt };
    try {
      switch (shape) {
        case 'data':
          return { kind: 'message', message: parseData(obj, origin, this.types) };
        case 'status':
          return { kind: 'message', message: parseStatus(obj, origin) };
        case 'cmd/response':
          return { kind: 'message', message: parseCommandResponse(obj, origin) };
      }
    } catch (err) {
      if (err instanceof SchemaViolation) return reject('schema_violation', err.message);
      throw err;
    }
  }
}

function reject(reason: RejectReason, detail: string): RouteResult {
  return { kind: 'rejected', reason, detail };
}

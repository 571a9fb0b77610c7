import type { DeviceTypes } from '../config/device-types';
import type { JsonLimits } from '../common/json-limits';
import { jsonTextProblem } from '../common/json-limits';
import { NAME_PATTERN } from '../common/validate';
import type { IngestMessage } from '../devices/ingest-message';
import type { DevicePayloadKind, RejectReason } from '../devices/device-payloads';
import { parseDevicePayload } from '../devices/device-payloads';

// The reasons are the device messages' (shared with signalling device channels, issue #15); re-exported for mqtt/.
export { REJECT_REASONS } from '../devices/device-payloads';
export type { RejectReason } from '../devices/device-payloads';

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
    return parseDevicePayload(
      shape satisfies DevicePayloadKind,
      body,
      { deviceType, deviceId, receivedAt },
      this.types,
    );
  }
}

function reject(reason: RejectReason, detail: string): RouteResult {
  return { kind: 'rejected', reason, detail };
}

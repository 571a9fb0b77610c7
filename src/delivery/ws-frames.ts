import type { RawData } from 'ws';
import { WireForm } from '../bus/encoded-event';
import type { JsonLimits } from '../common/json-limits';
import { jsonTextProblem } from '../common/json-limits';
import { textFrame } from '../common/websocket-frame';
import type { EndReason } from './delivery-sink';

/**
 * Close codes of the raw WebSocket endpoint `/ws/iot/…` (bridge.md, "Web
 * delivery"). 4403 is DeviceHub's (its Channels consumer closes
 * unauthenticated sockets with it); 4002 is the signalling protocol's
 * "token expired", since both use the same JWTs.
 */
export const WsCloseCode = {
  /** No valid token (missing, invalid or expired at connect). Do not retry with the same token. */
  Unauthorized: 4403,
  /** Bad `event_types` or `last_event_id` (after an `error` frame naming each field). */
  InvalidRequest: 4400,
  /** The token expired while connected (after a `token_expired` frame). Reconnect with a new token. */
  TokenExpired: 4002,
  /** The client left more than SEND_BUFFER_LIMIT unread. Reconnect with `last_event_id`. */
  SlowConsumer: 4008,
  /** Server shutting down. Reconnect with `last_event_id`. */
  GoingAway: 1001,
  /** The event stream failed on the server. Reconnect with `last_event_id`. */
  InternalError: 1011,
} as const;

/** How each way a stream ends closes the socket; the reason text names what to do next. */
export const END_CLOSE: Record<EndReason, { code: number; reason: string }> = {
  token_expired: { code: WsCloseCode.TokenExpired, reason: 'token expired' },
  slow_consumer: { code: WsCloseCode.SlowConsumer, reason: 'slow consumer: resume with last_event_id' },
  going_away: { code: WsCloseCode.GoingAway, reason: 'going away: resume with last_event_id' },
  internal_error: { code: WsCloseCode.InternalError, reason: 'internal error: resume with last_event_id' },
};

/** What a client may send. */
export type WsClientFrame = { action: 'ping' };

/** Everything other than events that the server sends. */
export type WsServerFrame =
  | { event: 'pong' }
  | {
      event: 'error';
      /** `too_deep` and `too_many_keys`: over MAX_JSON_DEPTH or MAX_JSON_KEYS (issue #18). */
      error: 'malformed_frame' | 'too_deep' | 'too_many_keys' | 'invalid_request' | 'internal_error';
      message: string;
      fields?: Record<string, string>;
    };

export class MalformedFrameError extends Error {}

/**
 * Parses one client frame; throws MalformedFrameError saying what is wrong,
 * or JsonLimitError for a frame too deep or too wide to parse.
 */
export function parseWsClientFrame(data: RawData, isBinary: boolean, limits: JsonLimits): WsClientFrame {
  if (isBinary) throw new MalformedFrameError('frames must be JSON text');
  const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(toBuffers(data));
  const tooBig = jsonTextProblem(bytes, limits);
  if (tooBig !== undefined) throw tooBig;
  let frame: unknown;
  try {
    frame = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new MalformedFrameError('frames must be JSON');
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new MalformedFrameError('frames must be JSON objects');
  }
  const action = (frame as Record<string, unknown>).action;
  if (action === 'ping') return { action };
  throw new MalformedFrameError(
    typeof action === 'string' ? `unknown action ${JSON.stringify(action.slice(0, 64))}` : 'action is missing',
  );
}

function toBuffers(data: RawData): Buffer[] {
  if (Array.isArray(data)) return data;
  return [Buffer.from(data as ArrayBuffer)];
}

export function encodeWsFrame(frame: WsServerFrame): string {
  return JSON.stringify(frame);
}

/** The event as a complete WebSocket text frame, built once and written as is to every connection. */
export const WS_EVENT_FRAME = new WireForm('ws', (e) => textFrame(e.json));

/** `/ws/iot/{type}/` or `/ws/iot/{type}/{id}/`, trailing slash optional. */
const PATH = /^\/ws\/iot\/([^/]+)(?:\/([^/]+))?\/?$/;

export interface WsPath {
  deviceType: string;
  deviceId?: string;
}

/** The device selection in a `/ws/iot/…` path, or undefined when the path has another shape. */
export function parseWsPath(pathname: string): WsPath | undefined {
  const match = PATH.exec(pathname);
  if (!match) return undefined;
  try {
    const deviceType = decodeURIComponent(match[1]);
    return match[2] === undefined ? { deviceType } : { deviceType, deviceId: decodeURIComponent(match[2]) };
  } catch {
    return undefined;
  }
}

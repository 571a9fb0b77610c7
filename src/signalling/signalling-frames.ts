import { DomainError } from '../common/domain-error';
import { textFrame } from '../common/websocket-frame';
import { MAX_ID_LENGTH } from './channel-rules';

/**
 * The wire format of signalling-protocol.md ("Frames", "Error codes",
 * "Close codes"), as the official `@metered-ca/realtime` SDK reads it.
 */

export const ERROR_CODES = [
  'malformed_message',
  'unknown_type',
  'invalid_channel',
  'invalid_peer_id',
  'channel_not_authorized',
  'channel_reserved',
  'channel_limit_exceeded',
  'peer_not_found',
  'missing_data',
  'action_not_permitted',
  'over_message_quota',
  'backend_error',
  'internal_error',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const CloseCode = {
  GoingAway: 1001,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  ClientInactivity: 4000,
  InvalidToken: 4001,
  TokenExpired: 4002,
  ChannelNotAuthorized: 4003,
  OverConcurrentLimit: 4010,
  OverMessageRate: 4011,
  AccountSuspended: 4012,
  AdminDisconnect: 4020,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** A per-request failure: becomes an `error` frame, and the connection stays open. */
export class SignallingError extends DomainError {
  constructor(
    override readonly code: ErrorCode,
    message: string,
    readonly requestId?: string,
  ) {
    super(code, message);
  }
}

/** A connection-level failure: the socket is closed with this code. */
export class SignallingClose extends Error {
  constructor(
    readonly closeCode: CloseCode,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export type ClientFrame =
  | { type: 'subscribe'; channel: unknown; requestId?: string; includeSenderMetadata: boolean }
  | { type: 'unsubscribe'; channel: unknown; requestId?: string }
  | { type: 'publish'; channel: unknown; data: unknown; hasData: boolean; requestId?: string }
  | { type: 'send'; to: unknown; data: unknown; hasData: boolean; requestId?: string }
  | { type: 'ping'; requestId?: string };

/**
 * Reads one text frame. Throws `SignallingError` for what no handler can
 * take (bad JSON, no type, unknown type); the field checks (channel, peer
 * id, data) belong to the handlers, which know their order of precedence.
 */
export function parseClientFrame(text: string): ClientFrame {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SignallingError('malformed_message', 'frame is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SignallingError('malformed_message', 'frame must be a JSON object');
  }
  const frame = parsed as Record<string, unknown>;
  const rawId = frame.requestId;
  if (rawId !== undefined && (typeof rawId !== 'string' || rawId.length === 0 || rawId.length > MAX_ID_LENGTH)) {
    throw new SignallingError('malformed_message', `requestId must be a string of 1 to ${MAX_ID_LENGTH} characters`);
  }
  const requestId = rawId;
  if (typeof frame.type !== 'string') throw new SignallingError('malformed_message', 'frame has no type', requestId);
  switch (frame.type) {
    case 'subscribe': {
      const flag = frame.includeSenderMetadata;
      if (flag !== undefined && typeof flag !== 'boolean') {
        throw new SignallingError('malformed_message', 'includeSenderMetadata must be a boolean', requestId);
      }
      return { type: 'subscribe', channel: frame.channel, requestId, includeSenderMetadata: flag === true };
    }
    case 'unsubscribe':
      return { type: 'unsubscribe', channel: frame.channel, requestId };
    case 'publish':
      return {
        type: 'publish',
        channel: frame.channel,
        data: frame.data,
        hasData: frame.data !== undefined,
        requestId,
      };
    case 'send':
      return { type: 'send', to: frame.to, data: frame.data, hasData: frame.data !== undefined, requestId };
    case 'ping':
      return { type: 'ping', requestId };
    default:
      throw new SignallingError('unknown_type', `unknown frame type: ${frame.type.slice(0, 64)}`, requestId);
  }
}

/**
 * The `requestId` of a frame refused before it was read (too deep, too
 * wide), so that the sender's pending request fails at once instead of at
 * its timeout. Safe on such a frame: V8's JSON.parse does not recurse, and
 * only the top level is looked at.
 */
export function requestIdOf(text: string): string | undefined {
  try {
    const id = (JSON.parse(text) as { requestId?: unknown } | null)?.requestId;
    return typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH ? id : undefined;
  } catch {
    return undefined;
  }
}

export interface PresencePeer {
  peerId: string;
  metadata?: Record<string, unknown>;
}

/** Every frame a client receives. */
export type ServerFrame =
  | {
      type: 'welcome';
      peerId: string;
      expiresAt: number | null;
      serverTime: number;
      maxMessageSize: number;
      metadata?: Record<string, unknown>;
    }
  | { type: 'ack'; requestId: string }
  | { type: 'error'; code: ErrorCode; requestId?: string; message?: string }
  | { type: 'message'; channel: string; from: string; data: unknown; fromMetadata?: Record<string, unknown> }
  | { type: 'direct'; from: string; data: unknown; fromMetadata?: Record<string, unknown> }
  | { type: 'presence'; channel: string; joined: PresencePeer[]; left: PresencePeer[] }
  | { type: 'going_away'; retryAfterMs: number }
  | { type: 'pong' };

/**
 * One outbound frame, serialised once and shared by every recipient: its
 * JSON, and (built on first use) the complete WebSocket text frame around
 * it, so fan-out to a thousand sockets is a thousand writes of one buffer.
 */
export class OutboundFrame {
  private framed: Buffer | undefined;

  constructor(readonly json: Buffer) {}

  /** The unmasked, unfragmented text frame a server sends (RFC 6455, section 5.2). */
  get wire(): Buffer {
    return (this.framed ??= textFrame(this.json));
  }
}

export function encodeFrame(frame: ServerFrame): OutboundFrame {
  return new OutboundFrame(Buffer.from(JSON.stringify(frame)));
}

/**
 * A `message` frame from already-serialised parts: the device mirror passes
 * the event's cached JSON (`eventJson`), a publish its data serialised once.
 */
export function encodeMessage(
  channel: string,
  from: string,
  dataJson: string,
  fromMetadataJson?: string,
): OutboundFrame {
  const meta = fromMetadataJson === undefined ? '' : `,"fromMetadata":${fromMetadataJson}`;
  return new OutboundFrame(
    Buffer.from(
      `{"type":"message","channel":${JSON.stringify(channel)},"from":${JSON.stringify(from)},"data":${dataJson}${meta}}`,
    ),
  );
}

import type { EncodedEvent } from '../bus/encoded-event';
import { WireForm } from '../bus/encoded-event';
import type { EndReason } from './delivery-sink';
import { END_MESSAGES } from './delivery-sink';

/**
 * How one HTTP stream frames what it sends (bridge.md, "Web delivery"): SSE
 * for EventSource, NDJSON for `fetch` readers. Every method returns one
 * complete frame; event frames are built once per event and shared by every
 * connection using the format.
 */
export interface StreamFormat {
  readonly name: 'sse' | 'ndjson';
  readonly contentType: string;
  /** First frame: DeviceHub's group name. */
  connected(group: string): string;
  /** The event's frame, built once per event (a WireForm) and shared by every connection using the format. */
  event(event: EncodedEvent): Buffer;
  /** The asked position is gone; events continue after `lastEventId`, which becomes the client's position. */
  reset(requested: string, lastEventId: string): string;
  /** Idle traffic so proxies and clients see the connection is alive. */
  keepalive(): string;
  /** Last frame before the server ends the stream. */
  end(reason: EndReason, lastEventId: string | undefined): string;
}

/** The same reset notice on every transport: `{"event": "reset", "reset": true, …}`. */
export function resetJson(requested: string, lastEventId: string): string {
  return JSON.stringify({ event: 'reset', reset: true, requested, last_event_id: lastEventId });
}

/** The same last words on every transport: `{"event": reason, "error": reason, "message", "last_event_id"}`. */
export function endJson(reason: EndReason, lastEventId: string | undefined): string {
  return JSON.stringify({
    event: reason,
    error: reason,
    message: END_MESSAGES[reason],
    last_event_id: lastEventId ?? null,
  });
}

const SSE_FRAME = new WireForm('sse', ({ event, json }) =>
  Buffer.from(`id: ${event.id}\nevent: ${event.event}\ndata: ${json}\n\n`),
);

/** How long EventSource waits before it reconnects. */
export const SSE_RETRY_MS = 1000;

/**
 * `text/event-stream`: `event:` is the device event's name so a page listens
 * with `addEventListener('data', …)`; `id:` is the log position that
 * EventSource sends back as `Last-Event-ID` when it reconnects. Last words
 * are named events of their own (`token_expired`, `slow_consumer`, …), never
 * `error`, which EventSource also fires for its own connection errors.
 */
export const sseFormat: StreamFormat = {
  name: 'sse',
  contentType: 'text/event-stream; charset=utf-8',
  // `retry:` makes EventSource come back after a second, not its default three, when a stream ends.
  connected: (group) => `event: connected\ndata: ${JSON.stringify({ group })}\nretry: ${SSE_RETRY_MS}\n\n`,
  event: (e) => e.wire(SSE_FRAME),
  reset: (requested, lastEventId) => `id: ${lastEventId}\nevent: reset\ndata: ${resetJson(requested, lastEventId)}\n\n`,
  keepalive: () => ': keepalive\n\n',
  end: (reason, lastEventId) => `event: ${reason}\ndata: ${endJson(reason, lastEventId)}\n\n`,
};

/**
 * `{"result": {"event": {…obj…, "eventType": name}}}`: the object with its
 * name added, spliced into its JSON rather than copied and serialized again.
 */
function dtLine(objectJson: string, eventType: string): string {
  return `{"result":{"event":${objectJson.slice(0, -1)},"eventType":${JSON.stringify(eventType)}}}}\n`;
}

const NDJSON_LINE = new WireForm('ndjson', ({ event, json }) => Buffer.from(dtLine(json, event.event)));

/**
 * `application/x-ndjson` in Disruptive Technologies' stream shape
 * (bridge.md, "Web delivery"; issue #13): each line is
 * `{"result": {"event": {…the event…, "eventType": "data"}}}`, pings are
 * `{"result": {"event": {"eventType": "ping"}}}`, so DT's stream client
 * reads `payload['result']['event']['eventType']` unchanged. Last words are
 * an `{"error": {…}}` line, like DT's own stream errors: DT's client sees a
 * line without `result` and reconnects.
 */
export const ndjsonFormat: StreamFormat = {
  name: 'ndjson',
  contentType: 'application/x-ndjson; charset=utf-8',
  connected: (group) => `{"result":{"event":{"eventType":"connected","group":${JSON.stringify(group)}}}}\n`,
  event: (e) => e.wire(NDJSON_LINE),
  reset: (requested, lastEventId) => dtLine(resetJson(requested, lastEventId), 'reset'),
  keepalive: () => '{"result":{"event":{"eventType":"ping"}}}\n',
  end: (reason, lastEventId) => `{"error":${endJson(reason, lastEventId)}}\n`,
};

/**
 * The format a request asks for: NDJSON for `Accept: application/x-ndjson`
 * or `application/json`, SSE otherwise (browsers send `text/event-stream`;
 * curl sends `*∕*`).
 */
export function negotiateFormat(accept: string | undefined): StreamFormat {
  if (accept === undefined) return sseFormat;
  const types = accept.split(',').map((part) => part.split(';')[0].trim().toLowerCase());
  if (types.includes('text/event-stream')) return sseFormat;
  if (types.includes('application/x-ndjson') || types.includes('application/json')) return ndjsonFormat;
  return sseFormat;
}

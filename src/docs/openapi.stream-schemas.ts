import { SCHEMAS, ref } from './openapi.schemas';
import type { Response, Schema } from './openapi.types';

/** What the delivery paths answer (README, "Web delivery"): the stream's framing and the poll answer. */

export const SSE_DESCRIPTION = [
  'SSE (`text/event-stream`, the default):',
  '`event: connected` with `{"group": "iot_{type}"}` and `retry: 1000` first;',
  'then each event as `id: {id}`, `event: {name}` (`data`, `status`, `command`, `command_response` or a broadcast’s name) and the event JSON as `data:`;',
  '`: keepalive` every `ping_interval`;',
  '`event: reset` (with an `id:` to resume from) when the asked position is older than the log keeps.',
  'The server ends a stream with last words as a named event, never `error`:',
  '`token_expired`, `slow_consumer`, `going_away` or `internal_error`, whose data is `{"event", "error", "message", "last_event_id"}`.',
  'With `Accept: application/x-ndjson` (or `application/json`), the same stream in Disruptive Technologies’ shape, one line each:',
  '`{"result": {"event": {…the event…, "eventType": "data"}}}` (the object SSE sends as `data:`, its name added as `eventType`),',
  '`{"result": {"event": {"eventType": "ping"}}}` every `ping_interval`, and last words as `{"error": {…}}`.',
].join(' ');

/** The 200 of `/iot/stream/…`: SSE by default, NDJSON on request. */
export const STREAM_CONTENT: Response['content'] = {
  'text/event-stream': {
    schema: { type: 'string' },
    example:
      'event: connected\ndata: {"group":"iot_weatherstation"}\nretry: 1000\n\nid: 1734\nevent: data\ndata: {"id":"1734","event":"data",…}\n\n',
  },
  'application/x-ndjson': { schema: ref('StreamLine') },
};

export const STREAM_HEADERS: Response['headers'] = {
  'Cache-Control': { description: '`no-cache`', schema: { type: 'string' } },
  'X-Accel-Buffering': { description: '`no`: proxies pass each event on as it comes.', schema: { type: 'string' } },
};

/** The 200 of `/iot/poll/…`. */
export const POLL_RESPONSE: Response = {
  description: 'The events after the cursor, oldest first.',
  headers: {
    'Set-Cookie': {
      description: '`poll_client=…` on the first answer to a client with neither token nor `client_id`.',
      schema: { type: 'string' },
    },
  },
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['events', 'cursor', 'more'],
        properties: {
          events: { type: 'array', items: ref('DeviceEvent') },
          cursor: {
            type: 'string',
            description:
              'The id of the last event examined: poll again with it, or hand it to any stream as `last_event_id`.',
          },
          more: { type: 'boolean', description: 'More events are waiting: poll again at once.' },
          reset: {
            type: 'boolean',
            enum: [true],
            description: 'The cursor was older than the log keeps: events were lost to this client.',
          },
          requested: { type: 'string', description: 'With `reset`: the position that was asked for.' },
        },
      },
    },
  },
};

const END_REASONS = ['token_expired', 'slow_consumer', 'going_away', 'internal_error'];
const only = (event: string): Schema => ({ type: 'string', enum: [event] });

const STREAM_RESET: Schema = {
  type: 'object',
  description:
    'The asked position is older than the log keeps; live events follow, and `last_event_id` is the new position.',
  required: ['event', 'reset', 'requested', 'last_event_id'],
  properties: {
    event: only('reset'),
    reset: { type: 'boolean', enum: [true] },
    requested: { type: 'string' },
    last_event_id: { type: 'string' },
  },
};

/** An NDJSON line's `result.event`: an object SSE sends as `data:`, with its name added as `eventType` (DT's shape). */
function dtEvent(description: string, base: Schema, eventType: Schema): Schema {
  return {
    ...base,
    description,
    required: [...(base.required ?? []), 'eventType'],
    properties: { ...base.properties, eventType },
  };
}

/** What a stream carries besides events: the same objects as SSE `data:` and as NDJSON `result.event`. */
export const STREAM_SCHEMAS: Record<string, Schema> = {
  StreamLine: {
    type: 'object',
    description:
      'One NDJSON line, in Disruptive Technologies’ shape: `result.event` with `eventType`, or `error` as the last line.',
    properties: {
      result: {
        type: 'object',
        required: ['event'],
        properties: {
          event: {
            oneOf: [ref('StreamEvent'), ref('StreamConnected'), ref('StreamPing'), ref('StreamResetEvent')],
          },
        },
      },
      error: ref('StreamEnd'),
    },
  },
  StreamEvent: dtEvent('A device event with its name as `eventType` (`data`, `status`, …).', SCHEMAS.DeviceEvent, {
    type: 'string',
  }),
  StreamConnected: {
    type: 'object',
    description: 'First NDJSON line.',
    required: ['eventType', 'group'],
    properties: { eventType: only('connected'), group: { type: 'string', example: 'iot_weatherstation' } },
  },
  StreamPing: {
    type: 'object',
    description: 'NDJSON keepalive, every `ping_interval`.',
    required: ['eventType'],
    properties: { eventType: only('ping') },
  },
  StreamReset: STREAM_RESET,
  StreamResetEvent: dtEvent('NDJSON reset notice.', STREAM_RESET, only('reset')),
  StreamEnd: {
    type: 'object',
    description:
      'Last words before the server ends the stream: reconnect (with a new token for `token_expired`) from `last_event_id`.',
    required: ['event', 'error', 'message', 'last_event_id'],
    properties: {
      event: { type: 'string', enum: END_REASONS },
      error: { type: 'string', enum: END_REASONS },
      message: { type: 'string' },
      last_event_id: { type: ['string', 'null'] },
    },
  },
};

import { z } from 'zod';
import { queryNumber, queryText } from '../common/validate';
import { POLL_LIMIT_DEFAULT, POLL_LIMIT_MAX, POLL_WAIT_MAX_SEC } from './poll.service';

/*
 * Query parameters of the HTTP delivery paths (README, "Web delivery").
 * Which events a client gets (type, id, event_types, resume position,
 * ping_interval) is checked once for every transport by selectClientEvents;
 * the poll schema repeats those rules for its own parameters so that one 400
 * names every bad one, and the documents of both paths come from here.
 */

const EVENT_ID_RULE = 'must be an event id received earlier';
const EVENT_TYPES_RULE = 'must be a comma-separated list of event names';
const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

const eventId = (description: string): z.ZodType<string | undefined, string | undefined> =>
  queryText(/^\d{1,16}$/, EVENT_ID_RULE).meta({ description });

/** `event_types=data,status`, or repeated: `event_types=data&event_types=status` (DT's client, Python's requests). */
const eventTypesParam = z
  .union([z.string(), z.array(z.string())], { error: EVENT_TYPES_RULE })
  .optional()
  .meta({
    type: 'string',
    description:
      'Comma-separated event names, e.g. `data,status`; may be repeated (`event_types=data&event_types=status`).',
  });

/** The same test as selectClientEvents: the list joined, split at commas, each name trimmed. */
const eventTypes = eventTypesParam.refine(
  (value) => {
    const list = Array.isArray(value) ? value.join(',') : value;
    return list === undefined || list === '' || list.split(',').every((t) => EVENT_NAME.test(t.trim()));
  },
  { error: EVENT_TYPES_RULE },
);

/** Read by ClientAuthGuard; listed so the document names it. */
const token = z.string().optional().meta({
  description: 'Client JWT where a header cannot be sent (EventSource). Its `channels` claim narrows by device.',
});

export const POLL_QUERY = z.object({
  event_types: eventTypes,
  token,
  cursor: eventId('Events after this position (an event id).'),
  last_event_id: eventId('Same as `cursor`.'),
  limit: queryNumber({
    min: 1,
    max: POLL_LIMIT_MAX,
    fallback: POLL_LIMIT_DEFAULT,
    message: `must be an integer from 1 to ${POLL_LIMIT_MAX}`,
  }).meta({ description: `Events at most (default ${POLL_LIMIT_DEFAULT}).` }),
  wait: queryNumber({
    min: 0,
    max: POLL_WAIT_MAX_SEC,
    fallback: 0,
    fractional: true,
    message: `must be a number of seconds from 0 to ${POLL_WAIT_MAX_SEC}`,
  }).meta({
    description: 'Long-poll: hold an empty answer up to this many seconds until an event arrives (default 0).',
  }),
  client_id: queryText(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1 to 128 letters, digits or _.:-').meta({
    description: 'Who is polling, for polls without a cursor.',
  }),
});

export type PollQuery = z.output<typeof POLL_QUERY>;

/** The SSE / NDJSON stream's parameters: documented here, checked by selectClientEvents like every transport's. */
export const STREAM_QUERY = z.object({
  event_types: eventTypesParam,
  token,
  last_event_id: z.string().optional().meta({ description: 'Resume after this event id (any transport’s `id`).' }),
  ping_interval: z.string().optional().meta({
    description:
      'Keepalive period of this stream (`10s`, `500ms`, bare seconds; 1 s to 1 h). Default `SSE_KEEPALIVE_INTERVAL`.',
  }),
});

export type StreamQuery = z.output<typeof STREAM_QUERY>;

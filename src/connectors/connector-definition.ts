import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { NAME_PATTERN, NAME_RULE, jsonBody, name } from '../common/validate';
import { MAX_PATTERNS, patternsProblem } from '../signalling/signalling-settings';
import type { ConnectorFilter } from './connector.entity';

/** Events per request. @default 100 */
export const DEFAULT_BATCH_SIZE = 100;
/** How long a receiver has to answer, ms. @default 10000 (Svix allows 15 s, Stripe 20 s) */
export const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_HEADERS = 20;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
/** Headers the service sets itself on every delivery. */
const RESERVED_HEADERS = /^(host|content-type|content-length|connection|transfer-encoding|keep-alive|devicehub-.*)$/i;

/** What a connector is: the fields of `POST /admin/connectors`, defaults applied. */
export interface ConnectorDefinition {
  name: string;
  url: string;
  filter: ConnectorFilter;
  batchSize: number;
  timeoutMs: number;
  headers: Record<string, string>;
  /** Absent on create: one is generated (`whsec_…`) and shown once. */
  secret?: string;
  paused: boolean;
}

const eventTypes = z
  .array(z.string().regex(NAME_PATTERN), { error: `must be a list of event names (${NAME_RULE})` })
  .min(1, { error: 'must name at least one event type' })
  .max(50, { error: 'must name at most 50 event types' });
const channelPatterns = (nullable: boolean): z.ZodType<unknown> =>
  z
    .unknown()
    .superRefine((value, ctx) => {
      if (nullable && value === null) return;
      const problem = patternsProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({
      type: 'array',
      items: { type: 'string' },
      maxItems: MAX_PATTERNS,
      description: 'Channel patterns `{prefix}/{type}/{id}/{event}` with `*` and `**` (the signalling rules).',
    });
const channels = channelPatterns(false);
const headers = z
  .record(z.string(), z.string({ error: 'header values must be strings' }), {
    error: 'must be an object of header names to string values',
  })
  .superRefine((value, ctx) => {
    const names = Object.keys(value);
    if (names.length > MAX_HEADERS)
      ctx.addIssue({ code: 'custom', message: `must hold at most ${MAX_HEADERS} headers` });
    for (const [key, text] of Object.entries(value)) {
      if (!HEADER_NAME.test(key))
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(key)} is not a header name` });
      else if (RESERVED_HEADERS.test(key)) ctx.addIssue({ code: 'custom', message: `${key} is set by the service` });
      // eslint-disable-next-line no-control-regex -- a control character would split or corrupt the request head
      else if (text.length > 1024 || /[\u0000-\u001f\u007f]/.test(text))
        ctx.addIssue({ code: 'custom', message: `${key}: at most 1024 characters, no control characters` });
    }
  });

/** The fields an operator may change; `name` and `source` never change. */
const changeable = {
  url: z
    .string({ error: 'must be an http:// or https:// URL' })
    .meta({ example: 'https://example.com/hooks/devicehub' }),
  event_types: eventTypes.optional(),
  device_type: name().optional(),
  device_id: name().optional(),
  channels: channels.optional(),
  batch_size: z
    .number({ error: 'must be an integer from 1 to 1000' })
    .int({ error: 'must be an integer from 1 to 1000' })
    .min(1, { error: 'must be an integer from 1 to 1000' })
    .max(1000, { error: 'must be an integer from 1 to 1000' })
    .optional()
    .meta({ description: `Events per request at most. Default ${DEFAULT_BATCH_SIZE}.` }),
  timeout_ms: z
    .number({ error: 'must be an integer from 100 to 60000' })
    .int({ error: 'must be an integer from 100 to 60000' })
    .min(100, { error: 'must be an integer from 100 to 60000' })
    .max(60_000, { error: 'must be an integer from 100 to 60000' })
    .optional()
    .meta({ description: `Milliseconds the receiver has to answer. Default ${DEFAULT_TIMEOUT_MS}.` }),
  headers: headers.optional(),
  secret: z
    .string({ error: 'must be a string of 16 to 256 characters' })
    .min(16, { error: 'must be a string of 16 to 256 characters' })
    .max(256, { error: 'must be a string of 16 to 256 characters' })
    .optional()
    .meta({ description: 'HMAC key. Omitted on create: one is generated and answered once.' }),
  paused: z.boolean({ error: 'must be true or false' }).optional(),
};

/** `POST /admin/connectors` (and each entry of CONNECTORS). */
export const CREATE_CONNECTOR = jsonBody({ name: name(), ...changeable }).meta({
  example: { name: 'alerts', url: 'https://example.com/hooks/devicehub', event_types: ['data', 'status'] },
});
export type CreateConnectorBody = z.output<typeof CREATE_CONNECTOR>;

/** `PATCH /admin/connectors/{name}`: any of the changeable fields; `null` clears a filter field. */
export const PATCH_CONNECTOR = jsonBody({
  url: changeable.url.optional(),
  event_types: eventTypes.nullable().optional(),
  device_type: name().nullable().optional(),
  device_id: name().nullable().optional(),
  channels: channelPatterns(true).optional(),
  batch_size: changeable.batch_size,
  timeout_ms: changeable.timeout_ms,
  headers: changeable.headers,
  secret: changeable.secret,
  paused: changeable.paused,
}).meta({ example: { batch_size: 500, event_types: null } });
export type PatchConnectorBody = z.output<typeof PATCH_CONNECTOR>;

/** `POST /admin/connectors/{name}/replay`: where delivery starts again, an event id or a time. */
export const REPLAY_CONNECTOR = jsonBody({
  from_id: z
    .string({ error: 'must be an event id (digits)' })
    .regex(/^\d{1,16}$/, { error: 'must be an event id (digits)' })
    .optional()
    .meta({ description: 'Deliver again from this event id on (inclusive).' }),
  from_time: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 time' })
    .optional()
    .meta({ description: 'Deliver again every event received at or after this time.' }),
}).meta({ example: { from_id: '1734' } });
export type ReplayConnectorBody = z.output<typeof REPLAY_CONNECTOR>;

/** Pause, resume and test take no fields; a body, when sent, is an empty JSON object. */
export const NO_FIELDS = z
  .object({}, { error: 'must be a JSON object' })
  .optional()
  .meta({ description: 'No fields; the body may be left out.' });

export function definitionFrom(body: CreateConnectorBody): ConnectorDefinition {
  return {
    name: body.name,
    url: body.url,
    filter: filterOf(body),
    batchSize: body.batch_size ?? DEFAULT_BATCH_SIZE,
    timeoutMs: body.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    headers: body.headers ?? {},
    ...(body.secret !== undefined ? { secret: body.secret } : {}),
    paused: body.paused ?? false,
  };
}

/** The filter fields given, dropping absent and `null` ones. */
export function filterOf(body: {
  event_types?: string[] | null;
  device_type?: string | null;
  device_id?: string | null;
  channels?: unknown;
}): ConnectorFilter {
  const filter: ConnectorFilter = {};
  if (body.event_types) filter.event_types = [...new Set(body.event_types)];
  if (body.device_type) filter.device_type = body.device_type;
  if (body.device_id) filter.device_id = body.device_id;
  if (Array.isArray(body.channels)) filter.channels = [...new Set(body.channels as string[])];
  return filter;
}

/** A signing secret as Svix and Stripe shape theirs: a prefix saying what it is, 32 random bytes. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** A filter with a PATCH applied: absent fields stay, `null` clears, a value replaces. */
export function patchedFilter(filter: ConnectorFilter, patch: PatchConnectorBody): ConnectorFilter {
  const merged: Record<string, unknown> = { ...filter };
  for (const key of ['event_types', 'device_type', 'device_id', 'channels'] as const) {
    const value = patch[key];
    if (value === null) delete merged[key];
    else if (value !== undefined) merged[key] = value;
  }
  return filterOf(merged);
}

import { z } from 'zod';
import { jsonBody, jsonObject, text } from '../common/validate';
import type { Schema } from '../docs/openapi.types';
import { MAX_COMMAND_TIMEOUT_SEC } from './commands.service';

/** Smallest accepted `timeout`, in seconds. */
const MIN_TIMEOUT_SEC = 0.1;
const TIMEOUT_RULE = `must be a number from ${MIN_TIMEOUT_SEC} to ${MAX_COMMAND_TIMEOUT_SEC}`;

/** Command and event names: what may follow `cmd/` or name an event. */
export const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
export const EVENT_NAME_RULE = 'must be 1 to 64 letters, digits, _ . : or -';

/** `POST /api/devices/{type}/{id}/commands` body (bridge.md, "REST and admin"). */
export const COMMAND_BODY = jsonBody({
  command: text(EVENT_NAME, EVENT_NAME_RULE),
  payload: jsonObject().optional().meta({ default: {} }),
  timeout: z
    .number({ error: TIMEOUT_RULE })
    .min(MIN_TIMEOUT_SEC, { error: TIMEOUT_RULE })
    .max(MAX_COMMAND_TIMEOUT_SEC, { error: TIMEOUT_RULE })
    .optional()
    .meta({ description: 'Seconds to wait for the answer.' }),
}).meta({ example: { command: 'set_interval', payload: { interval: 60 }, timeout: 10 } });

export type CommandBody = z.output<typeof COMMAND_BODY>;

/** What the endpoint answers (documented in /docs). */
export const COMMAND_ANSWER: Schema = {
  type: 'object',
  required: ['request_id'],
  properties: { request_id: { type: 'string' }, result: {}, error: { type: 'string' } },
};

export const COMMAND_SENT: Schema = {
  type: 'object',
  required: ['request_id', 'status'],
  properties: { request_id: { type: 'string' }, status: { type: 'string', enum: ['sent'] } },
};

export const COMMAND_TIMEOUT: Schema = {
  type: 'object',
  required: ['error', 'request_id'],
  properties: {
    error: { type: 'string', enum: ['command_timeout'] },
    request_id: { type: 'string' },
    message: { type: 'string' },
  },
};

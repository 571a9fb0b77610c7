import { z } from 'zod';
import { jsonBody } from '../common/validate';
import type { MintRequest } from '../auth/token.service';
import { PERMISSIONS } from '../auth/token.service';
import { isValidPeerId } from './channel-rules';
import { SERVER_PEER_ID } from './signalling-hub.service';
import { patternsProblem } from './signalling-settings';

/** `expiresInSec` bounds (signalling-protocol.md, "JWT"). */
export const DEFAULT_EXPIRES_IN_SEC = 3600;
export const MAX_EXPIRES_IN_SEC = 86_400;

/** A token's lifetime in seconds, 1 to `max`, `fallback` when not given. */
export function expiresInSecField(max: number, fallback: number): z.ZodDefault<z.ZodNumber> {
  const rule = `must be an integer from 1 to ${max}`;
  return z
    .number({ error: rule })
    .int({ error: rule })
    .min(1, { error: rule })
    .max(max, { error: rule })
    .default(fallback);
}

/** A list of channel patterns (`*`, `**`), checked by the signalling settings' own rules. */
export function channelPatternsField(description: string): z.ZodType<string[], unknown> {
  return z
    .unknown()
    .superRefine((channels, ctx) => {
      const problem = patternsProblem(channels);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform((channels) => channels as string[])
    .meta({ type: 'array', items: { type: 'string' }, maxItems: 100, description });
}

/** A JSON object at most `limit` bytes long as JSON (it rides in every token). */
const boundedObject = (limit: number): z.ZodType<Record<string, unknown>> =>
  z
    .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
    .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= limit, {
      error: `must be at most ${limit} bytes as JSON`,
    });

/** `POST /v1/tokens` body; one 400 names every bad field. Channel rules are the signalling settings' own. */
export const MINT_TOKEN_BODY = jsonBody({
  peerId: z
    .unknown()
    .superRefine((id, ctx) => {
      if (!isValidPeerId(id))
        ctx.addIssue({ code: 'custom', message: 'must be printable ASCII of 1 to 128 characters' });
      else if (id === SERVER_PEER_ID)
        ctx.addIssue({ code: 'custom', message: `${SERVER_PEER_ID} is the server's own peer id` });
    })
    .transform((id) => id as string)
    .meta({ type: 'string', maxLength: 128 }),
  channels: channelPatternsField('Channel patterns (`*`, `**`).'),
  permissions: z
    .array(z.enum(PERMISSIONS), { error: `must be a list drawn from ${PERMISSIONS.join(', ')}` })
    .optional()
    .meta({ default: ['subscribe', 'presence'] }),
  expiresInSec: expiresInSecField(MAX_EXPIRES_IN_SEC, DEFAULT_EXPIRES_IN_SEC),
  metadata: boundedObject(8192).optional(),
  peerMetadata: boundedObject(4096).optional(),
})
  .transform((b): MintRequest => ({
    peerId: b.peerId,
    channels: b.channels,
    ...(b.permissions !== undefined ? { permissions: [...new Set(b.permissions)] } : {}),
    expiresInSec: b.expiresInSec,
    ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
    ...(b.peerMetadata !== undefined ? { peerMetadata: b.peerMetadata } : {}),
  }))
  .meta({ example: { peerId: 'dashboard', channels: ['things/**'], permissions: ['subscribe', 'publish'] } });

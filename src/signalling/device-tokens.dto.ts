import { z } from 'zod';
import { jsonBody, name } from '../common/validate';
import { patternsProblem } from './signalling-settings';

/** Device and gateway tokens (issue #15): a day unless asked, at most a year (a device may hold one token). */
export const DEFAULT_DEVICE_TOKEN_SEC = 86_400;
export const MAX_DEVICE_TOKEN_SEC = 365 * 86_400;

const EXPIRES_RULE = `must be an integer from 1 to ${MAX_DEVICE_TOKEN_SEC}`;
const expiresInSec = z
  .number({ error: EXPIRES_RULE })
  .int({ error: EXPIRES_RULE })
  .min(1, { error: EXPIRES_RULE })
  .max(MAX_DEVICE_TOKEN_SEC, { error: EXPIRES_RULE })
  .default(DEFAULT_DEVICE_TOKEN_SEC)
  .meta({ description: 'Seconds until the token expires.' });

/** `POST /admin/devices/{type}/{id}/token`: an optional `{"expiresInSec"}`. */
export const DEVICE_TOKEN_BODY = jsonBody({ expiresInSec })
  .optional()
  .transform((b) => ({ expiresInSec: b?.expiresInSec ?? DEFAULT_DEVICE_TOKEN_SEC }))
  .meta({ example: { expiresInSec: 2_592_000 } });

export type DeviceTokenBody = z.output<typeof DEVICE_TOKEN_BODY>;

/** `POST /admin/gateways/token`: `{"name", "channels": [pattern…], "expiresInSec"?}`. */
export const GATEWAY_TOKEN_BODY = jsonBody({
  name: name(),
  channels: z
    .unknown()
    .superRefine((channels, ctx) => {
      const problem = patternsProblem(channels);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform((channels) => channels as string[])
    .meta({
      type: 'array',
      items: { type: 'string' },
      maxItems: 100,
      description: 'Channel patterns of the devices it acts for (`*`, `**`), and of their command channels.',
    }),
  expiresInSec,
}).meta({ example: { name: 'site-a', channels: ['fleet/*/telemetry', 'fleet/*/cmd', 'fleet/*/cmd/response'] } });

export type GatewayTokenBody = z.output<typeof GATEWAY_TOKEN_BODY>;

import type { z } from 'zod';
import { jsonBody, name } from '../common/validate';
import { channelPatternsField, expiresInSecField } from './tokens.dto';

/** Device and gateway tokens (issue #15): a day unless asked, at most a year (a device may hold one token). */
export const DEFAULT_DEVICE_TOKEN_SEC = 86_400;
export const MAX_DEVICE_TOKEN_SEC = 365 * 86_400;

const expiresInSec = expiresInSecField(MAX_DEVICE_TOKEN_SEC, DEFAULT_DEVICE_TOKEN_SEC).meta({
  description: 'Seconds until the token expires.',
});

/** `POST /admin/devices/{type}/{id}/token`: an optional `{"expiresInSec"}`. */
export const DEVICE_TOKEN_BODY = jsonBody({ expiresInSec })
  .optional()
  .transform((b) => ({ expiresInSec: b?.expiresInSec ?? DEFAULT_DEVICE_TOKEN_SEC }))
  .meta({ example: { expiresInSec: 2_592_000 } });

export type DeviceTokenBody = z.output<typeof DEVICE_TOKEN_BODY>;

/** `POST /admin/gateways/token`: `{"name", "channels": [pattern…], "expiresInSec"?}`. */
export const GATEWAY_TOKEN_BODY = jsonBody({
  name: name(),
  channels: channelPatternsField(
    'Channel patterns of the devices it acts for (`*`, `**`), and of their command channels.',
  ),
  expiresInSec,
}).meta({ example: { name: 'site-a', channels: ['fleet/*/telemetry', 'fleet/*/cmd', 'fleet/*/cmd/response'] } });

export type GatewayTokenBody = z.output<typeof GATEWAY_TOKEN_BODY>;

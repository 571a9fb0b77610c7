import { z } from 'zod';
import { jsonBody, name, NAME_PATTERN, NAME_RULE } from '../common/validate';
import { FILTER_PATTERN } from './topic-acl';

/** A topic filter a gateway may be given: any filter but `$`-topics, which are the broker's. */
const GATEWAY_FILTER = new RegExp(`^(?!\\$)${FILTER_PATTERN.source.slice(1)}`);
const TOPICS_RULE = 'must be 1 to 100 MQTT topic filters (+ for one level, # for the rest), none under $';

/** `/admin/devices/{type}/{id}/credentials`: a bad name is reported as `device_type` / `device_id`, as in a body. */
export const DEVICE_CREDENTIALS_PARAMS = z
  .object({
    type: z.string().meta({ description: 'Device type.', example: 'weatherstation' }),
    id: z.string().meta({ description: 'Device id.', example: 'ws-001' }),
  })
  .superRefine((params, ctx) => {
    if (!NAME_PATTERN.test(params.type)) ctx.addIssue({ code: 'custom', path: ['device_type'], message: NAME_RULE });
    if (!NAME_PATTERN.test(params.id)) ctx.addIssue({ code: 'custom', path: ['device_id'], message: NAME_RULE });
  });

export type DeviceCredentialsParams = z.output<typeof DEVICE_CREDENTIALS_PARAMS>;

/** `POST /admin/gateways`: `{"name", "topics": [MQTT topic filter…]}`. */
export const GATEWAY_BODY = jsonBody({
  name: name(),
  topics: z
    .array(z.string({ error: TOPICS_RULE }).regex(GATEWAY_FILTER, { error: TOPICS_RULE }), { error: TOPICS_RULE })
    .min(1, { error: TOPICS_RULE })
    .max(100, { error: TOPICS_RULE }),
}).meta({ example: { name: 'site-a', topics: ['things/weatherstation/#'] } });

export type GatewayBody = z.output<typeof GATEWAY_BODY>;

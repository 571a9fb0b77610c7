import type { z } from 'zod';
import { jsonBody, jsonObject, name, text } from '../common/validate';
import { EVENT_NAME, EVENT_NAME_RULE } from '../devices/commands.dto';

/** `POST /admin/broadcast` body: DeviceHub's manual broadcast (bridge.md, "REST and admin"). */
export const BROADCAST_BODY = jsonBody({
  device_type: name(),
  device_id: name(),
  event_type: text(EVENT_NAME, EVENT_NAME_RULE).meta({ description: 'The event name clients see.' }),
  data: jsonObject(),
}).meta({ example: { device_type: 'weatherstation', device_id: 'ws-001', event_type: 'alert', data: { msg: 'hi' } } });

export type BroadcastBody = z.output<typeof BROADCAST_BODY>;

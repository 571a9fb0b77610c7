import { z } from 'zod';
import { jsonBody } from '../common/validate';

/**
 * `PUT /admin/rooms/{room}` body. The channel patterns are checked by the
 * room bindings themselves (the same rules as SIGNALLING_ROOMS), together
 * with the room name, so one 400 names both.
 */
export const ROOM_BODY = jsonBody({
  channels: z
    .unknown()
    .meta({ type: 'array', items: { type: 'string' }, description: 'Channel patterns (`*`, `**`).' }),
}).meta({ example: { channels: ['things/camera/front-door/**'] } });

export type RoomBody = z.output<typeof ROOM_BODY>;

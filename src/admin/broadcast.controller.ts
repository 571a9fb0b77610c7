import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import type { DeviceEvent } from '../bus/device-event';
import type { BroadcastBody } from './broadcast.dto';
import { BROADCAST_BODY } from './broadcast.dto';
import { BroadcastService } from './broadcast.service';
import { AdminAuth, Answers, ApiDoc, ApiTags, Invalid, ref, Unauthorized } from '../docs/api-docs.decorators';

/** DeviceHub's manual broadcast (bridge.md, "REST and admin"). */
@Controller('admin')
@UseGuards(AdminGuard)
@ApiTags('admin')
@AdminAuth()
export class BroadcastController {
  constructor(private readonly broadcasts: BroadcastService) {}

  @Post('broadcast')
  @HttpCode(200)
  @ApiDoc('broadcast', "DeviceHub's manual broadcast: an event delivered on every transport like an ingested one")
  @Answers(200, 'The event, with its log position.', ref('DeviceEvent'))
  @Invalid()
  @Unauthorized()
  async broadcast(@Body({ schema: BROADCAST_BODY }) body: BroadcastBody): Promise<DeviceEvent> {
    return this.broadcasts.broadcast(body.device_type, body.device_id, body.event_type, body.data);
  }
}

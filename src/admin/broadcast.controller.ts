import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { BodyReader } from '../common/validate';
import type { DeviceEvent } from '../bus/device-event';
import { BroadcastService } from './broadcast.service';

/** DeviceHub's manual broadcast (bridge.md, "REST and admin"). */
@Controller('admin')
@UseGuards(AdminGuard)
export class BroadcastController {
  constructor(private readonly broadcasts: BroadcastService) {}

  @Post('broadcast')
  @HttpCode(200)
  async broadcast(@Body() body: unknown): Promise<DeviceEvent> {
    const r = new BodyReader(body);
    const deviceType = r.name('device_type');
    const deviceId = r.name('device_id');
    const eventType = r.string('event_type', /^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 letters, digits, _ . : or -');
    const data = r.object('data');
    r.done();
    return this.broadcasts.broadcast(
      deviceType as string,
      deviceId as string,
      eventType as string,
      data as Record<string, unknown>,
    );
  }
}

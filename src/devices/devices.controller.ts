import { Controller, Get, Param, Query, Req, UseGuards } from '@nestjs/common';
import type { AuthedRequest } from '../auth/auth.guards';
import { ClientAuthGuard } from '../auth/auth.guards';
import type { DeviceView } from './devices.dto';
import { parseDeviceListQuery } from './devices.dto';
import type { ReadingsAnswer } from './devices.service';
import { DevicesService } from './devices.service';
import { parseReadingsQuery } from './readings-query';

/** The registry and readings history (bridge.md, "REST and admin"). */
@Controller('api/devices')
@UseGuards(ClientAuthGuard)
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  /** `?device_type=`, `?status=`, `?limit=` (1000, at most 10000), `?offset=`. */
  @Get()
  list(@Req() req: AuthedRequest, @Query() query: Record<string, unknown>): { devices: DeviceView[]; total: number } {
    return this.devices.list(req.claims, parseDeviceListQuery(query));
  }

  @Get(':type/:id')
  get(@Req() req: AuthedRequest, @Param('type') type: string, @Param('id') id: string): DeviceView {
    return this.devices.get(req.claims, type, id);
  }

  /** `?start&end` (ISO 8601 or epoch ms), `?limit`, `?reading`, `?interval=1m&agg=avg|min|max|count`. */
  @Get(':type/:id/readings')
  readings(
    @Req() req: AuthedRequest,
    @Param('type') type: string,
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
  ): Promise<ReadingsAnswer> {
    return this.devices.readings(req.claims, type, id, parseReadingsQuery(query));
  }
}

import { Controller, Get, Param, Query, Req, UseGuards } from '@nestjs/common';
import type { AuthedRequest } from '../auth/auth.guards';
import { ClientAuthGuard } from '../auth/auth.guards';
import type { DeviceListQuery, DeviceView } from './devices.dto';
import { DEVICE_LIST_QUERY, READINGS_ANSWER } from './devices.dto';
import type { ReadingsAnswer } from './devices.service';
import { DevicesService } from './devices.service';
import type { ReadingsQuery } from './readings-query';
import { READINGS_QUERY } from './readings-query';
import type { RecentReadingsAnswer, RecentReadingsQuery } from './recent-readings';
import { MAX_RECENT_DEVICES, RECENT_READINGS_ANSWER, RECENT_READINGS_QUERY } from './recent-readings';
import {
  Answers,
  ApiDoc,
  ApiParam,
  ApiTags,
  ClientAuth,
  Invalid,
  NotFound,
  ref,
  Unauthorized,
} from '../docs/api-docs.decorators';

/** The registry and readings history (bridge.md, "REST and admin"). */
@Controller('api/devices')
@UseGuards(ClientAuthGuard)
@ApiTags('devices')
@ClientAuth()
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  /** `?device_type=`, `?status=`, `?limit=` (1000, at most 10000), `?offset=`. */
  @Get()
  @ApiDoc(
    'listDevices',
    'List devices with status, last seen, battery, firmware and latest readings',
    'Sorted by type, then id; only devices whose channels the token allows.',
  )
  @Answers(200, 'A page of devices and how many match.', {
    type: 'object',
    required: ['devices', 'total'],
    properties: { devices: { type: 'array', items: ref('Device') }, total: { type: 'integer' } },
  })
  @Invalid()
  @Unauthorized()
  list(
    @Req() req: AuthedRequest,
    @Query({ schema: DEVICE_LIST_QUERY }) query: DeviceListQuery,
  ): { devices: DeviceView[]; total: number } {
    return this.devices.list(req.claims, query);
  }

  @Get(':type/:id')
  @ApiDoc('getDevice', 'One device')
  @ApiParam({ name: 'type', description: 'Device type.', example: 'weatherstation' })
  @ApiParam({ name: 'id', description: 'Device id.', example: 'ws-001' })
  @Answers(200, 'The device.', ref('Device'))
  @Unauthorized()
  @NotFound('device')
  get(@Req() req: AuthedRequest, @Param('type') type: string, @Param('id') id: string): DeviceView {
    return this.devices.get(req.claims, type, id);
  }

  /** `?start&end` (ISO 8601 or epoch ms), `?limit`, `?reading`, `?interval=1m&agg=avg|min|max|count`. */
  @Get(':type/:id/readings')
  @ApiDoc(
    'getReadings',
    'Readings history, raw or in time buckets',
    'Oldest first. With `start`, the first `limit` samples from `start` on; without it, the most recent `limit`. With `interval`, one value per reading per interval (`agg`, default `avg`).',
  )
  @ApiParam({ name: 'type', description: 'Device type.', example: 'weatherstation' })
  @ApiParam({ name: 'id', description: 'Device id.', example: 'ws-001' })
  @Answers(200, 'Samples, or buckets when `interval` is given.', READINGS_ANSWER)
  @Invalid()
  @Unauthorized()
  @NotFound('device')
  readings(
    @Req() req: AuthedRequest,
    @Param('type') type: string,
    @Param('id') id: string,
    @Query({ schema: READINGS_QUERY }) query: ReadingsQuery,
  ): Promise<ReadingsAnswer> {
    return this.devices.readings(req.claims, type, id, query);
  }
}

/** The last readings of many devices at once: a table page's sparklines in one request (issue #19). */
@Controller('api/readings')
@UseGuards(ClientAuthGuard)
@ApiTags('devices')
@ClientAuth()
export class RecentReadingsController {
  constructor(private readonly devices: DevicesService) {}

  /** `?devices=type/id type/id …` (at most 200), `?limit=` (30, at most 100). */
  @Get('recent')
  @ApiDoc(
    'getRecentReadings',
    'The last samples of many devices, for sparklines',
    `For each listed device the token may see (others are left out), in the order asked, the last \`limit\` samples of its first numeric reading by name, oldest first; \`reading\` is null for a device with no numeric reading. At most ${MAX_RECENT_DEVICES} devices per request; one database query answers them all.`,
  )
  @Answers(200, 'Each visible device with its reading and samples.', RECENT_READINGS_ANSWER)
  @Invalid()
  @Unauthorized()
  recent(
    @Req() req: AuthedRequest,
    @Query({ schema: RECENT_READINGS_QUERY }) query: RecentReadingsQuery,
  ): Promise<RecentReadingsAnswer> {
    return this.devices.recent(req.claims, query);
  }
}

import { Controller, Get, UseGuards } from '@nestjs/common';
import { ClientAuthGuard } from '../auth/auth.guards';
import { Answers, ApiDoc, ApiTags, ClientAuth, Unauthorized, ref } from '../docs/api-docs.decorators';
import type { StatsView } from './stats.service';
import { StatsService } from './stats.service';

/**
 * `GET /api/stats`: the dashboard's fleet overview in one request (issue #19).
 * Counts only, no device data; it takes the dashboard's client token like
 * the rest of `/api` (open with AUTH=off).
 */
@Controller('api/stats')
@UseGuards(ClientAuthGuard)
@ApiTags('service')
@ClientAuth()
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get()
  @ApiDoc(
    'stats',
    "The dashboard's fleet overview: device counts, message and reject rates, event-log lag, backends, instances",
    'One answer for the page (it asks every 2 s): counts read from the registry when asked, rates from counters sampled every 2 s, `health` as `/health` reports it. Counts only, no device data.',
  )
  @Answers(200, 'The overview.', ref('Stats'))
  @Unauthorized()
  get(): Promise<StatsView> {
    return this.stats.stats();
  }
}

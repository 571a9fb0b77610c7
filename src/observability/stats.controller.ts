import { Controller, Get, UseGuards } from '@nestjs/common';
import { ClientAuthGuard } from '../auth/auth.guards';
import type { StatsView } from './stats.service';
import { StatsService } from './stats.service';

/**
 * `GET /api/stats`: the dashboard's fleet overview in one request (issue #19).
 * Counts only, no device data; it takes the dashboard's client token like
 * the rest of `/api` (open with AUTH=off).
 */
@Controller('api/stats')
@UseGuards(ClientAuthGuard)
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get()
  get(): Promise<StatsView> {
    return this.stats.stats();
  }
}

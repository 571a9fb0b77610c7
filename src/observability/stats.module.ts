import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { HealthModule } from '../health/health.module';
import { StatsController } from './stats.controller';
import { StatsService } from './stats.service';

/** The fleet overview behind the dashboard (`GET /api/stats`, issue #19). */
@Module({ imports: [DevicesModule, HealthModule], controllers: [StatsController], providers: [StatsService] })
export class StatsModule {}

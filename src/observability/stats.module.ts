import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { BusModule } from '../bus/bus.module';
import { ClusterModule } from '../cluster/cluster.module';
import { DeviceTypesModule } from '../config/device-types.module';
import { DevicesModule } from '../devices/devices.module';
import { HealthModule } from '../health/health.module';
import { StatsController } from './stats.controller';
import { StatsService } from './stats.service';

/** The fleet overview behind the dashboard (`GET /api/stats`, issue #19). */
@Module({
  imports: [AuthModule, BusModule, ClusterModule, DeviceTypesModule, DevicesModule, HealthModule],
  controllers: [StatsController],
  providers: [StatsService],
})
export class StatsModule {}

import type { DynamicModule } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { AdminModule } from './admin/admin.module';
import { AuthModule } from './auth/auth.module';
import { BusModule } from './bus/bus.module';
import { ClusterModule } from './cluster/cluster.module';
import { CommonModule } from './common/common.module';
import { ConnectorsModule } from './connectors/connectors.module';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DeviceTypesModule } from './config/device-types.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { DatabaseModule } from './database/database.module';
import { DeliveryModule } from './delivery/delivery.module';
import { DevicesModule } from './devices/devices.module';
import { DocsModule } from './docs/docs.module';
import { HealthModule } from './health/health.module';
import { MqttModule } from './mqtt/mqtt.module';
import { ObservabilityModule } from './observability/observability.module';
import { StatsModule } from './observability/stats.module';
import { SignallingModule } from './signalling/signalling.module';

/**
 * One MQTT message's path: mqtt/ (transport, router) -> devices/ (events,
 * registry) -> bus/ (log, ids, streams) -> each transport.
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DeviceTypesModule,
        CommonModule,
        ObservabilityModule,
        ClusterModule,
        DatabaseModule,
        BusModule,
        AuthModule,
        MqttModule,
        DevicesModule,
        AdminModule,
        HealthModule,
        StatsModule,
        SignallingModule,
        DeliveryModule,
        ConnectorsModule,
        DashboardModule,
        DocsModule,
      ],
    };
  }
}

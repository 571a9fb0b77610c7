import { Module } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { AuthModule } from '../auth/auth.module';
import { BusModule } from '../bus/bus.module';
import { ClusterModule } from '../cluster/cluster.module';
import { IngestLeaseService } from '../cluster/ingest-lease.service';
import { CommonModule } from '../common/common.module';
import { UpgradeRouter } from '../common/upgrade-router';
import { DeviceTypesModule } from '../config/device-types.module';
import { DevicesModule } from '../devices/devices.module';
import { MetricsService } from '../observability/metrics.service';
import { CredentialsController } from './credentials.controller';
import { CredentialsRepository } from './credentials.repository';
import { CredentialsService } from './credentials.service';
import { DeviceRejectsRecorder } from './device-rejects.recorder';
import { EmbeddedBrokerTransport } from './embedded-broker.transport';
import { ExternalBrokerTransport } from './external-broker.transport';
import { MqttCredential } from './mqtt-credential.entity';
import { MqttCommandsService } from './mqtt-commands.service';
import { MqttIngestionService } from './mqtt-ingestion.service';
import { MqttTransport } from './mqtt-transport';
import { Reject } from './reject.entity';
import { RejectsController } from './rejects.controller';
import { RejectsRepository } from './rejects.repository';
import { RejectsService } from './rejects.service';

/**
 * MQTT (issue #2): the embedded broker, or a client of `MQTT_URL`, behind
 * MqttTransport; the router and ingestion; rejects; embedded-broker
 * credentials. It imports the devices module (ingestion) and publishes the
 * commands that module sends (OutboundCommands); devices/ never imports mqtt/.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([MqttCredential, Reject]),
    DevicesModule,
    BusModule,
    ClusterModule,
    AuthModule,
    CommonModule,
    DeviceTypesModule,
  ],
  controllers: [CredentialsController, RejectsController],
  providers: [
    CredentialsRepository,
    CredentialsService,
    RejectsRepository,
    RejectsService,
    DeviceRejectsRecorder,
    MqttIngestionService,
    MqttCommandsService,
    {
      provide: MqttTransport,
      inject: [APP_CONFIG, UpgradeRouter, CredentialsService, HttpAdapterHost, MetricsService, IngestLeaseService],
      useFactory: (
        config: AppConfig,
        upgrades: UpgradeRouter,
        credentials: CredentialsService,
        http: HttpAdapterHost,
        metrics: MetricsService,
        lease: IngestLeaseService,
      ): MqttTransport =>
        config.mqtt.url === undefined
          ? new EmbeddedBrokerTransport(config, upgrades, credentials, http)
          : new ExternalBrokerTransport(config, metrics, lease),
    },
  ],
  exports: [MqttTransport],
})
export class MqttModule {}

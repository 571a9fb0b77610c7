import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { BusModule } from '../bus/bus.module';
import { ClusterModule } from '../cluster/cluster.module';
import { DeviceTypesModule } from '../config/device-types.module';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { DatabaseModule } from '../database/database.module';
import { CommandSenderGuard } from './command-sender.guard';
import { CommandsController } from './commands.controller';
import { CommandsService } from './commands.service';
import { Device } from './device.entity';
import { DeviceChannels } from './device-channels';
import { DeviceIngestService } from './device-ingest.service';
import { DeviceRejects } from './device-rejects';
import { DeviceRegistryService } from './device-registry.service';
import { DeviceWriterService } from './device-writer.service';
import { DevicesController, RecentReadingsController } from './devices.controller';
import { DevicesService } from './devices.service';
import { OutboundCommands } from './outbound-commands';
import { Reading } from './reading.entity';

/**
 * Device registry, readings, commands, offline sweep (issue #2). Commands
 * leave through OutboundCommands, which the MQTT module publishes from.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([Device, Reading]),
    BusModule,
    ClusterModule,
    DatabaseModule,
    DeviceTypesModule,
    AuthModule,
  ],
  controllers: [DevicesController, RecentReadingsController, CommandsController],
  providers: [
    DeviceRegistryService,
    DeviceWriterService,
    DeviceIngestService,
    DevicesService,
    CommandsService,
    CommandSenderGuard,
    OutboundCommands,
    DeviceRejects,
    {
      provide: DeviceChannels,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new DeviceChannels(config.mqtt.topicPrefix, config.signalling.deviceChannels),
    },
  ],
  exports: [
    DeviceIngestService,
    DeviceRegistryService,
    CommandsService,
    OutboundCommands,
    DeviceRejects,
    DeviceChannels,
  ],
})
export class DevicesModule {}

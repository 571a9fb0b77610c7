import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { BusModule } from '../bus/bus.module';
import { ClusterModule } from '../cluster/cluster.module';
import { DeviceTypesModule } from '../config/device-types.module';
import { DatabaseModule } from '../database/database.module';
import { CommandSenderGuard } from './command-sender.guard';
import { CommandsController } from './commands.controller';
import { CommandsService } from './commands.service';
import { Device } from './device.entity';
import { DeviceIngestService } from './device-ingest.service';
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
  ],
  exports: [DeviceIngestService, DeviceRegistryService, CommandsService, OutboundCommands],
})
export class DevicesModule {}

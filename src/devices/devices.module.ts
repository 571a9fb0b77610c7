import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CommandSenderGuard } from './command-sender.guard';
import { CommandsController } from './commands.controller';
import { CommandsService } from './commands.service';
import { Device } from './device.entity';
import { DeviceIngestService } from './device-ingest.service';
import { DeviceRegistryService } from './device-registry.service';
import { DeviceWriterService } from './device-writer.service';
import { DevicesController } from './devices.controller';
import { DevicesService } from './devices.service';
import { Reading } from './reading.entity';

/** Device registry, readings, commands, offline sweep (issue #2). */
@Module({
  imports: [TypeOrmModule.forFeature([Device, Reading])],
  controllers: [DevicesController, CommandsController],
  providers: [
    DeviceRegistryService,
    DeviceWriterService,
    DeviceIngestService,
    DevicesService,
    CommandsService,
    CommandSenderGuard,
  ],
  exports: [DeviceIngestService, CommandsService, DeviceRegistryService],
})
export class DevicesModule {}

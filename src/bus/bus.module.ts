import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ClusterModule } from '../cluster/cluster.module';
import { DatabaseModule } from '../database/database.module';
import { EventBusService } from './event-bus.service';
import { EventLogRepository } from './event-log.repository';
import { EventLogMeta, EventRecord } from './event-record.entity';

/** The event bus and its log; every producer publishes here and every transport reads from here. */
@Module({
  imports: [TypeOrmModule.forFeature([EventRecord, EventLogMeta]), DatabaseModule, ClusterModule],
  providers: [EventLogRepository, EventBusService],
  exports: [EventBusService],
})
export class BusModule {}

import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { RedisRepository } from '../cluster/redis.repository';
import { CommittedFeed } from './committed-feed';
import { ClusterModule } from '../cluster/cluster.module';
import { DatabaseModule } from '../database/database.module';
import { EventBusService } from './event-bus.service';
import { EventLogRepository } from './event-log.repository';
import { EventPrunerService } from './event-pruner.service';
import { EventReaderService } from './event-reader.service';
import { EventLogMeta, EventRecord } from './event-record.entity';
import { EventWriterService } from './event-writer.service';
import { InProcessFeed } from './in-process-feed';
import { RedisFeed } from './redis-feed';

/** The feed of committed events: this instance's alone, or merged with other instances' through Redis. */
export function committedFeed(log: EventLogRepository, redis: RedisRepository): CommittedFeed {
  return redis.enabled ? new RedisFeed(log, redis) : new InProcessFeed(log);
}

/**
 * The event bus and its log; every producer publishes here and every
 * transport reads from here. The log's store (SQLite or PostgreSQL) comes
 * from DatabaseModule; the feed is chosen here.
 */
@Module({
  imports: [TypeOrmModule.forFeature([EventRecord, EventLogMeta]), DatabaseModule, ClusterModule],
  providers: [
    { provide: CommittedFeed, inject: [EventLogRepository, RedisRepository], useFactory: committedFeed },
    EventWriterService,
    EventReaderService,
    EventPrunerService,
    EventBusService,
  ],
  exports: [EventBusService],
})
export class BusModule {}

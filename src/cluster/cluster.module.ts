import { Module } from '@nestjs/common';
import { ClusterLeaseService } from './cluster-lease.service';
import { IngestLeaseRepository } from './ingest-lease.repository';
import { IngestLeaseService } from './ingest-lease.service';
import { RedisRepository } from './redis.repository';

/** What several instances share: the Redis connection, the leader lease and the ingest lease. */
@Module({
  providers: [RedisRepository, ClusterLeaseService, IngestLeaseRepository, IngestLeaseService],
  exports: [RedisRepository, ClusterLeaseService, IngestLeaseService],
})
export class ClusterModule {}

import { Module } from '@nestjs/common';
import { ClusterLeaseService } from './cluster-lease.service';
import { RedisRepository } from './redis.repository';

/** What several instances share: the Redis connection and the leader lease. */
@Module({ providers: [RedisRepository, ClusterLeaseService], exports: [RedisRepository, ClusterLeaseService] })
export class ClusterModule {}

import type { OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RedisRepository } from './redis.repository';

const LEASE = 'leader';
const LEASE_TTL_MS = 10_000;
const RENEW_EVERY_MS = 3_000;

/**
 * Cluster-wide duties (offline sweep, retention pruning) run on one instance:
 * the holder of a Redis lease, renewed every 3 s and lost 10 s after its
 * holder stops renewing (a killed instance). Without Redis this instance is
 * the only one and always leads.
 */
@Injectable()
export class ClusterLeaseService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ClusterLeaseService.name);
  readonly instanceId = randomUUID();
  private leading: boolean;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((leading: boolean) => void)[] = [];

  constructor(private readonly redis: RedisRepository) {
    this.leading = !redis.enabled;
  }

  /** Whether this instance should run cluster-wide duties now. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Calls `listener` with the current answer of `isLeader`, then at every change. */
  onLeadership(listener: (leading: boolean) => void): void {
    this.listeners.push(listener);
    listener(this.leading);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.redis.enabled) return;
    await this.renew();
    this.timer = setInterval(() => void this.renew(), RENEW_EVERY_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    if (this.leading && this.redis.enabled) await this.redis.releaseLease(this.redis.key(LEASE), this.instanceId);
    this.leading = !this.redis.enabled;
  }

  private async renew(): Promise<void> {
    let held = false;
    try {
      held = await this.redis.holdLease(this.redis.key(LEASE), this.instanceId, LEASE_TTL_MS);
    } catch {
      // Redis down: step back; whoever holds the lease after it returns leads.
      held = false;
    }
    if (held !== this.leading)
      this.logger.log(
        held ? 'This instance now runs cluster-wide duties' : 'Another instance runs cluster-wide duties',
      );
    const changed = held !== this.leading;
    this.leading = held;
    if (changed) for (const listener of this.listeners) listener(held);
  }
}

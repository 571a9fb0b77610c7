import { Inject, Injectable, Logger } from '@nestjs/common';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { EventLogRepository } from './event-log.repository';

/**
 * Retention (EVENT_RETENTION): deletes events older than it, at most once a
 * minute, on the lease holder only, so instances sharing a log do not race
 * to delete the same rows.
 */
@Injectable()
export class EventPrunerService {
  private readonly logger = new Logger(EventPrunerService.name);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: EventLogRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly lease: ClusterLeaseService,
  ) {}

  start(): void {
    const every = Math.min(this.config.eventRetentionMs, 60_000);
    this.timer = setInterval(() => void this.prune(), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async prune(): Promise<void> {
    if (!this.lease.isLeader) return;
    try {
      const removed = await this.log.pruneBefore(Date.now() - this.config.eventRetentionMs);
      if (removed > 0) this.logger.debug(`Pruned ${removed} events older than retention`);
    } catch (err) {
      this.logger.warn(`Event log pruning failed: ${String(err)}`);
    }
  }
}

import type { OnModuleInit } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import { MetricsService } from '../observability/metrics.service';
import { SignallingHubService } from './signalling-hub.service';

/**
 * The signalling adapter's connections and deliveries on this instance
 * (issue #6), read from the hub's own counters at each scrape: the connect
 * and publish paths pay nothing for metrics.
 */
@Injectable()
export class SignallingMetricsService implements OnModuleInit {
  /** Deliveries already added to the counter. */
  private counted = 0;

  constructor(
    private readonly hub: SignallingHubService,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.metrics.sampleOnScrape(() => this.sample());
  }

  sample(): void {
    const { connections, delivered } = this.hub.stats;
    this.metrics.connections.set({ transport: 'signalling' }, connections);
    const { peers, subscriptions } = this.hub.localCounts();
    this.metrics.signallingPeers.set(peers);
    this.metrics.signallingSubscriptions.set(subscriptions);
    if (delivered > this.counted) this.metrics.signallingDelivered.inc(delivered - this.counted);
    this.counted = delivered;
  }
}

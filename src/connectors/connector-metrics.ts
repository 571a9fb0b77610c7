import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../observability/metrics.service';

/** A delivering connector's figures, as the scrape samples them. */
export interface ConnectorGauges {
  name: string;
  cursor: number;
  lagEvents: number;
  lagSeconds: number;
  failing: boolean;
}

/**
 * The connectors' Prometheus metrics (issue #16, "Operator controls"), on the
 * service's one registry. Counters count this instance's requests; gauges
 * are set on each scrape for the connectors this instance delivers only (a
 * connector appears on one instance at a time; sum or max over instances).
 */
@Injectable()
export class ConnectorMetrics {
  readonly requests: Counter<'connector' | 'outcome'>;
  readonly events: Counter<'connector'>;
  readonly requestSeconds: Histogram<'connector'>;
  private readonly cursor: Gauge<'connector'>;
  private readonly lagEvents: Gauge<'connector'>;
  private readonly lagSeconds: Gauge<'connector'>;
  private readonly failing: Gauge<'connector'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.requests = new Counter({
      name: 'devicehub_connector_requests_total',
      help: 'Webhook requests by connector and outcome (success: a 2xx; failure: any other status, a timeout or a connection error)',
      labelNames: ['connector', 'outcome'] as const,
      registers,
    });
    this.events = new Counter({
      name: 'devicehub_connector_events_delivered_total',
      help: 'Events acknowledged by the receiver (2xx), by connector',
      labelNames: ['connector'] as const,
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'devicehub_connector_request_seconds',
      help: 'Time from sending a webhook request to the end of its answer, by connector',
      labelNames: ['connector'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.cursor = gauge(
      'devicehub_connector_cursor',
      'Last event-log position acknowledged or passed over, by connector',
    );
    this.lagEvents = gauge(
      'devicehub_connector_lag_events',
      'Log positions the connector has yet to pass, by connector',
    );
    this.lagSeconds = gauge(
      'devicehub_connector_lag_seconds',
      'Age of the oldest event the connector has yet to deliver (0 when caught up), by connector',
    );
    this.failing = gauge(
      'devicehub_connector_failing',
      '1 while a connector has failed for longer than CONNECTORS_FAILING_AFTER, by connector',
    );
    function gauge(name: string, help: string): Gauge<'connector'> {
      return new Gauge({ name, help, labelNames: ['connector'] as const, registers });
    }
    this.sample = () => [];
    metrics.sampleOnScrape(() => this.setGauges(this.sample()));
  }

  /** Supplies the delivering connectors' figures at each scrape. */
  sample: () => ConnectorGauges[];

  private setGauges(figures: ConnectorGauges[]): void {
    for (const g of [this.cursor, this.lagEvents, this.lagSeconds, this.failing]) g.reset();
    for (const f of figures) {
      this.cursor.set({ connector: f.name }, f.cursor);
      this.lagEvents.set({ connector: f.name }, f.lagEvents);
      this.lagSeconds.set({ connector: f.name }, f.lagSeconds);
      this.failing.set({ connector: f.name }, f.failing ? 1 : 0);
    }
  }
}

import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The web transports, as metric labels. */
export type TransportLabel = 'ws' | 'socketio' | 'sse' | 'ndjson' | 'poll' | 'signalling';

/**
 * Every Prometheus metric of the service, declared in one place (issue #6,
 * "Observability"). Hot paths add per batch (`inc(n)`), not per event, where
 * they can.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly mqttMessages = new Counter({
    name: 'devicehub_mqtt_messages_total',
    help: 'MQTT messages ingested, by kind (data, status, command_response)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly mqttRejected = new Counter({
    name: 'devicehub_mqtt_rejected_total',
    help: 'MQTT messages rejected, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly signallingDeviceMessages = new Counter({
    name: 'devicehub_signalling_device_messages_total',
    help: 'Device messages ingested from signalling device channels, by kind (data, status, command_response)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly mqttReconnects = new Counter({
    name: 'devicehub_mqtt_reconnects_total',
    help: 'Disconnects from the external MQTT broker',
    registers: [this.registry],
  });
  readonly eventsDelivered = new Counter({
    name: 'devicehub_events_delivered_total',
    help: 'Events sent to web clients, by transport',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: 'devicehub_connections',
    help: 'Open client connections, by transport',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly slowConsumerDisconnects = new Counter({
    name: 'devicehub_slow_consumer_disconnects_total',
    help: 'Clients disconnected for leaving more than SEND_BUFFER_LIMIT unread, by transport',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly logBatchSize = new Histogram({
    name: 'devicehub_event_log_batch_size',
    help: 'Events per event-log transaction',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
    registers: [this.registry],
  });
  readonly logWriteSeconds = new Histogram({
    name: 'devicehub_event_log_write_seconds',
    help: 'Time to write one event-log batch',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly ingestToSendSeconds = new Histogram({
    name: 'devicehub_ingest_to_send_seconds',
    help: 'From MQTT receipt to the hand-off to a client socket, by transport',
    labelNames: ['transport'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly signallingPeers = new Gauge({
    name: 'devicehub_signalling_peers',
    help: 'Connected signalling peers',
    registers: [this.registry],
  });
  readonly signallingSubscriptions = new Gauge({
    name: 'devicehub_signalling_subscriptions',
    help: 'Signalling channel subscriptions, over all connections',
    registers: [this.registry],
  });
  readonly signallingDelivered = new Counter({
    name: 'devicehub_signalling_messages_delivered_total',
    help: 'Messages delivered to signalling subscribers (device mirror, bound rooms and peer publishes)',
    registers: [this.registry],
  });

  private readonly samplers: (() => void)[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'devicehub_' });
  }

  /**
   * Runs `sample` before each scrape: for values their owner already keeps
   * (peers, subscriptions), read when asked rather than mirrored on every change.
   */
  sampleOnScrape(sample: () => void): void {
    this.samplers.push(sample);
  }

  /** The Prometheus text exposition of every metric, sampled values brought up to date first. */
  async scrape(): Promise<string> {
    for (const sample of this.samplers) sample();
    return this.registry.metrics();
  }
}

import { Injectable, Optional } from '@nestjs/common';
import { EventBusService } from '../bus/event-bus.service';
import type { Ingestion } from '../mqtt/mqtt-transport';
import { MqttTransport } from '../mqtt/mqtt-transport';
import { RedisRepository } from '../cluster/redis.repository';
import { ConnectorsService } from '../connectors/connectors.service';

export interface HealthReport {
  /** `ok`; `degraded` while the log holds events it could not yet write; `down` when broker or database is unreachable. */
  status: 'ok' | 'degraded' | 'down';
  broker: { connected: boolean; ingestion: Ingestion };
  database: { connected: boolean; error?: string };
  /** Present with REDIS_URL; while it is away the service is degraded, not down (events still flow through the log). */
  redis?: { connected: boolean };
  bus: { pendingWrites: boolean; batches: number; events: number };
  /** Present when connectors are failing (issue #16): their names; the service is then degraded, not down. */
  connectors?: { failing: string[] };
}

@Injectable()
export class HealthService {
  constructor(
    private readonly bus: EventBusService,
    private readonly mqtt: MqttTransport,
    private readonly redis: RedisRepository,
    @Optional() private readonly connectors?: ConnectorsService,
  ) {}

  async report(): Promise<HealthReport> {
    let database: HealthReport['database'] = { connected: true };
    try {
      await this.bus.checkLog();
    } catch (err) {
      database = { connected: false, error: err instanceof Error ? err.message : String(err) };
    }
    const broker = { connected: this.mqtt.connected, ingestion: this.mqtt.ingestion };
    const down = !broker.connected || !database.connected;
    const failing = this.connectors?.failing() ?? [];
    return {
      status: down ? 'down' : this.bus.degraded || failing.length > 0 ? 'degraded' : 'ok',
      broker,
      database,
      ...(this.redis.enabled ? { redis: { connected: this.redis.connected } } : {}),
      bus: { pendingWrites: this.bus.degraded, batches: this.bus.stats.batches, events: this.bus.stats.events },
      ...(failing.length > 0 ? { connectors: { failing } } : {}),
    };
  }
}

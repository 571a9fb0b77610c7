import type { OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { EventBusService } from '../bus/event-bus.service';
import { EventLogRepository } from '../bus/event-log.repository';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { RedisRepository } from '../cluster/redis.repository';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { ConnectorRecord } from './connector.entity';
import type { ConnectorGauges } from './connector-metrics';
import { ConnectorMetrics } from './connector-metrics';
import type { WorkerContext } from './connector-worker';
import { ConnectorWorker } from './connector-worker';
import { readBatch } from './connector-reader';
import { ConnectorsRepository } from './connectors.repository';

/** Redis channel on which an instance announces a connector an operator changed. */
const CHANGED = 'connectors:changed';

/**
 * Runs the connectors this instance holds the lease of (issue #16,
 * "Restarts and clusters"). Each connector's row is its lease: every
 * third of CONNECTORS_LEASE_TTL, one statement renews this instance's
 * leases and takes those whose holder stopped renewing, in the database's
 * clock; then the rows are read and a worker runs for each row held. So
 * exactly one instance delivers a connector at a time, another takes over
 * within a lease time when it dies, and cursor commits carry the holder's
 * id (a fence): an instance that lost its lease cannot move the cursor.
 * The lease lives in the database rather than Redis so that it also holds
 * without Redis and dies with nothing but the row.
 */
@Injectable()
export class ConnectorDeliveryService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Connectors');
  private readonly workers = new Map<string, ConnectorWorker>();
  private rows: ConnectorRecord[] = [];
  private head = 0;
  private leaseValidUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private feed: Subscription | undefined;
  private stopped = false;
  private readonly context: WorkerContext;

  constructor(
    private readonly repository: ConnectorsRepository,
    private readonly bus: EventBusService,
    private readonly log: EventLogRepository,
    private readonly lease: ClusterLeaseService,
    private readonly redis: RedisRepository,
    private readonly metrics: ConnectorMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.context = {
      readPage: (filter, afterId, limit) => readBatch(this.log, filter, Number(afterId), limit),
      commit: (name, epoch, delta) => this.repository.commit(name, this.instanceId, epoch, delta),
      leaseValid: () => performance.now() < this.leaseValidUntil,
      fenced: () => this.refresh(),
      settings: config.connectors,
      topicPrefix: config.mqtt.topicPrefix,
      metrics,
      logger: this.logger,
    };
    metrics.sample = () => this.gauges();
  }

  get instanceId(): string {
    return this.lease.instanceId;
  }

  /** The newest committed position this instance knows. */
  get logHead(): number {
    return this.head;
  }

  /** The rows as last read (at most a lease renewal old). */
  get known(): readonly ConnectorRecord[] {
    return this.rows;
  }

  /** The worker of a connector this instance delivers. */
  worker(name: string): ConnectorWorker | undefined {
    return this.workers.get(name);
  }

  async onApplicationBootstrap(): Promise<void> {
    // `readPage` without a position answers the newest committed one, and reads nothing.
    this.head = Number((await this.bus.readPage({}, undefined, 1)).cursor);
    this.feed = this.bus.batches$.subscribe((batch) => {
      this.head = Number(batch[batch.length - 1].id);
      for (const worker of this.workers.values()) worker.wake(this.head);
    });
    await this.redis.subscribe(this.redis.key(CHANGED), () => this.refresh());
    await this.refreshNow();
    const every = Math.max(50, Math.floor(this.config.connectors.leaseTtlMs / 3));
    this.timer = setInterval(() => this.refresh(), every);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.feed?.unsubscribe();
    await this.ticking;
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
    this.workers.clear();
    await this.repository.release(this.instanceId).catch(() => undefined);
  }

  /** A connector changed here: this instance reloads at once, the others when Redis tells them. */
  changed(): void {
    this.refresh();
    this.redis.publish(this.redis.key(CHANGED), '1');
  }

  /** Renews leases and reloads rows soon; one run at a time, a request meanwhile runs once more after it. */
  refresh(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick().finally(() => {
      this.ticking = undefined;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    });
  }

  /** Resolves once a renewal that started after this call has run. */
  async refreshNow(): Promise<void> {
    await this.ticking;
    this.refresh();
    await this.ticking;
  }

  private async tick(): Promise<void> {
    const started = performance.now();
    try {
      await this.repository.claim(this.instanceId, this.config.connectors.leaseTtlMs);
      // Counted from before the claim was sent: this instance's view of the lease ends no later than the database's.
      this.leaseValidUntil = started + this.config.connectors.leaseTtlMs;
      this.rows = await this.repository.all();
    } catch (err) {
      this.logger.warn(`Renewing the connectors' leases failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.stopped) return;
    const held = new Map(this.rows.filter((r) => r.leaseOwner === this.instanceId).map((r) => [r.name, r]));
    for (const [name, worker] of this.workers) {
      if (held.has(name)) continue;
      this.workers.delete(name);
      this.logger.log(`Connector ${name}: no longer delivered by this instance`);
      await worker.stop();
    }
    for (const row of held.values()) {
      const worker = this.workers.get(row.name);
      if (worker === undefined) {
        this.logger.log(`Connector ${row.name}: delivering from event ${row.cursorId} on`);
        this.workers.set(row.name, new ConnectorWorker(row, this.context));
      } else if (worker.version !== row.version) worker.update(row);
    }
  }

  private gauges(): ConnectorGauges[] {
    const now = Date.now();
    return [...this.workers.values()].map((w) => ({
      name: w.name,
      cursor: w.figures.cursor,
      lagEvents: Math.max(0, this.head - w.figures.cursor),
      lagSeconds: w.figures.oldestPendingAt === undefined ? 0 : Math.max(0, (now - w.figures.oldestPendingAt) / 1000),
      failing: w.failing(now),
    }));
  }
}

import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { IngestFence } from '../bus/ingest-fence';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { IngestLeaseRepository } from './ingest-lease.repository';

/** One holding of the lease: its epoch is the fencing token of every message received under it. */
class LeaseEpoch implements IngestFence {
  current = true;
  constructor(
    readonly lease: string,
    readonly epoch: number,
  ) {}
}

export type LeaseListener = (fence: IngestFence | undefined) => void;

/**
 * The ingest lease of a share group (issue #12, `MQTT_INGEST=lease`): the
 * one instance that ingests from the broker now. Held for
 * `MQTT_INGEST_LEASE` past its last renewal, renewed every fifth of that;
 * the others try to take it as often. Its holder stops ingesting (and says
 * so to its listener) as soon as it cannot be sure it still holds it: a
 * renewal refused, or none accepted for 80% of the lease's length (the
 * database unreachable). The epoch fences every batch it commits, so even an
 * instance that does not know yet cannot commit after a successor took over.
 *
 * On a SQLite file (one process) the lease is this process's from the start.
 */
@Injectable()
export class IngestLeaseService {
  private readonly logger = new Logger('IngestLease');
  private readonly holder = randomUUID();
  readonly name: string;
  private readonly ttlMs: number;
  private held: LeaseEpoch | undefined;
  /** When the last accepted renewal (or the acquisition) was sent, by this process's monotonic clock. */
  private renewedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private listener: LeaseListener | undefined;
  private stopped = false;
  private ticking: Promise<void> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly leases: IngestLeaseRepository,
  ) {
    this.name = `${config.mqtt.shareGroup ?? ''}/${config.mqtt.topicPrefix}`;
    this.ttlMs = config.mqtt.ingestLeaseMs;
  }

  /** Whether this instance ingests now, and under which epoch. */
  get fence(): IngestFence | undefined {
    return this.held;
  }

  /** Starts trying to take (and then keeping) the lease; `listener` hears every change. */
  start(listener: LeaseListener): void {
    this.listener = listener;
    if (this.config.database.type !== 'postgres') {
      this.held = new LeaseEpoch(this.name, 1);
      listener(this.held);
      return;
    }
    this.schedule(0);
  }

  /**
   * Renews now; false when the lease is not (or no longer) this instance's.
   * Asked before the ingest connection reconnects, so that an instance whose
   * lease was taken never takes the session back.
   */
  async confirm(): Promise<boolean> {
    await this.ticking;
    if (this.held === undefined) return false;
    if (this.config.database.type !== 'postgres') return true;
    await this.tick();
    return this.held !== undefined;
  }

  /**
   * Gives the lease up, so another instance takes over at once. The
   * transport calls it at shutdown once its acknowledgements are settled:
   * earlier, the successor would be sent again what this one is committing.
   */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    const held = this.held;
    if (held === undefined) return;
    held.current = false;
    this.held = undefined;
    if (this.config.database.type !== 'postgres') return;
    await this.leases.release(this.name, this.holder, held.epoch).catch((err: unknown) => {
      this.logger.warn(`Releasing the ingest lease failed (it expires in ${this.ttlMs} ms): ${String(err)}`);
    });
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.tick().finally(() => this.schedule(Math.max(100, Math.floor(this.ttlMs / 5))));
    }, delayMs);
    this.timer.unref();
  }

  private tick(): Promise<void> {
    this.ticking ??= this.attempt().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    const sentAt = performance.now();
    const held = this.held;
    try {
      if (held) {
        if (await this.leases.renew(this.name, this.holder, held.epoch, this.ttlMs)) this.renewedAt = sentAt;
        else this.lose(held, 'another instance holds it now');
        return;
      }
      const epoch = await this.leases.acquire(this.name, this.holder, this.ttlMs);
      if (epoch === undefined || this.stopped) return;
      this.renewedAt = sentAt;
      this.held = new LeaseEpoch(this.name, epoch);
      this.logger.log(`This instance ingests from the broker now (ingest lease ${this.name}, epoch ${epoch})`);
      this.listener?.(this.held);
    } catch (err) {
      // The database does not answer: hold on while the lease cannot have expired for the others.
      if (held && performance.now() - this.renewedAt > this.ttlMs * 0.8)
        this.lose(held, `no renewal for ${Math.round(performance.now() - this.renewedAt)} ms (${String(err)})`);
    }
  }

  private lose(held: LeaseEpoch, why: string): void {
    if (this.held !== held) return;
    held.current = false;
    this.held = undefined;
    this.logger.warn(`This instance stops ingesting (ingest lease ${this.name}, epoch ${held.epoch}): ${why}`);
    this.listener?.(undefined);
  }
}

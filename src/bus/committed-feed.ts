import type { Observable } from 'rxjs';
import { Subject } from 'rxjs';
import type { DeviceEvent } from './device-event';
import type { EventLogRepository } from './event-log.repository';

/**
 * Committed events, in log order, to every subscriber of this instance: the
 * bus's one swap point (STYLE.md: an interface where two real
 * implementations exist). InProcessFeed hands this instance's batches on
 * as they commit; RedisFeed (REDIS_URL) merges them with the batches other
 * instances announce on Redis and reads from the log whatever Redis did not
 * bring. BusModule chooses one at start-up.
 */
export abstract class CommittedFeed {
  private readonly committed = new Subject<readonly DeviceEvent[]>();
  private last = 0;

  /** Every committed batch, in log order. */
  readonly batches$: Observable<readonly DeviceEvent[]> = this.committed.asObservable();

  constructor(protected readonly log: EventLogRepository) {}

  /** The newest position handed to subscribers: every id up to it is committed. */
  get lastDelivered(): number {
    return this.last;
  }

  /** True while other instances' events may be late (Redis away). */
  abstract get degraded(): boolean;

  /** Starts after the log's last position (and joins the other instances). */
  async start(): Promise<void> {
    this.last = await this.log.lastId();
  }

  /** A batch this instance committed, positioned. */
  abstract offer(batch: readonly DeviceEvent[]): void;

  /** No batch follows: subscribers complete. */
  stop(): void {
    this.committed.complete();
  }

  protected emit(batch: readonly DeviceEvent[]): void {
    this.last = Number(batch[batch.length - 1].id);
    this.committed.next(batch);
  }
}

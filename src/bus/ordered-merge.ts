import type { DeviceEvent } from './device-event';

/** How long a gap may stay open before it is read back from the log. */
const GAP_WAIT_MS = 50;
/** Events held out of order at most; past this the gap is read from the log at once. */
const MAX_HELD = 50_000;

/**
 * Several instances commit to one log and announce their batches over Redis;
 * announcements can arrive out of order, late, or not at all (Redis down).
 * This puts them back into log order: it emits a batch when it continues the
 * last emitted id, holds batches that are ahead, and after a short wait reads
 * a missing range back from the log, so every instance emits every event
 * exactly once, in id order.
 */
export class OrderedMerge {
  private readonly held = new Map<number, readonly DeviceEvent[]>();
  private heldCount = 0;
  private gapTimer: NodeJS.Timeout | undefined;
  private filling = false;

  constructor(
    /** The last id already emitted (or in the log before start-up). */
    private lastEmitted: number,
    private readonly emit: (batch: readonly DeviceEvent[]) => void,
    /** Reads events with `after < id <= through` from the log, oldest first. */
    private readonly readRange: (after: number, through: number) => Promise<DeviceEvent[]>,
    private readonly onError: (err: unknown) => void,
  ) {}

  get last(): number {
    return this.lastEmitted;
  }

  /** A contiguous batch committed by some instance. */
  offer(batch: readonly DeviceEvent[]): void {
    if (batch.length === 0) return;
    const first = Number(batch[0].id);
    const lastOfBatch = first + batch.length - 1;
    if (lastOfBatch <= this.lastEmitted) return;
    if (first > this.lastEmitted + 1) {
      if (!this.held.has(first)) {
        this.held.set(first, batch);
        this.heldCount += batch.length;
      }
      this.armGapTimer(this.heldCount > MAX_HELD ? 0 : GAP_WAIT_MS);
      return;
    }
    this.emitFrom(batch, first);
    this.drainHeld();
  }

  /** Some instance has committed up to `latestId`: read anything not yet seen. */
  catchUp(latestId: number): void {
    if (latestId > this.lastEmitted) void this.fill(latestId);
  }

  stop(): void {
    clearTimeout(this.gapTimer);
  }

  private emitFrom(batch: readonly DeviceEvent[], first: number): void {
    const fresh = first > this.lastEmitted ? batch : batch.slice(this.lastEmitted + 1 - first);
    this.lastEmitted = Number(fresh[fresh.length - 1].id);
    this.emit(fresh);
  }

  private drainHeld(): void {
    for (;;) {
      let progressed = false;
      for (const [first, batch] of this.held) {
        const lastOfBatch = first + batch.length - 1;
        if (lastOfBatch <= this.lastEmitted) {
          this.forget(first, batch);
        } else if (first <= this.lastEmitted + 1) {
          this.forget(first, batch);
          this.emitFrom(batch, first);
          progressed = true;
        }
      }
      if (!progressed) break;
    }
    if (this.held.size === 0) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    }
  }

  private forget(first: number, batch: readonly DeviceEvent[]): void {
    this.held.delete(first);
    this.heldCount -= batch.length;
  }

  private armGapTimer(delay: number): void {
    if (this.gapTimer !== undefined && delay > 0) return;
    clearTimeout(this.gapTimer);
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      const through = Math.min(...this.held.keys()) - 1;
      void this.fill(through);
    }, delay);
  }

  private async fill(through: number): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    try {
      while (through > this.lastEmitted) {
        const events = await this.readRange(this.lastEmitted, through);
        if (events.length === 0) break;
        this.emitFrom(events, Number(events[0].id));
      }
      this.drainHeld();
    } catch (err) {
      this.onError(err);
    } finally {
      this.filling = false;
      if (this.held.size > 0) this.armGapTimer(GAP_WAIT_MS);
    }
  }
}

import { Backoff } from '../common/backoff';

/** The retry delays of every write loop: 100 ms doubling to 5 s, jittered. */
export const WRITE_RETRY = { initialMs: 100, maxMs: 5000 } as const;

export interface GroupCommitOptions<T, B> {
  /** Units (events, readings) one commit takes: items are taken while fewer are taken. */
  maxBatch: number;
  /** Units queued (the batch being written included) before `hasRoom` says no. */
  maxPending: number;
  /** Makes one batch of the items taken (`units` between them). Called once per batch: a retry commits the same batch. */
  seal(items: T[], units: number): B;
  /** Writes a batch; when it throws, the same batch is tried again after the backoff's delay. */
  commit(batch: B, attempt: number): Promise<void>;
  /** Told of each failed attempt (counters, logging). */
  failed(err: unknown, attempt: number): void;
  /**
   * Least time from one batch's start to the next's while less than a full
   * batch is queued: what comes meanwhile goes into that next batch. None by
   * default (the event log writes a batch as soon as the one before it is
   * done); the devices projection waits 20 ms, so a trickle of events makes
   * one write in twenty, not one each.
   */
  minIntervalMs?: number;
}

/**
 * Runs `attempt` until it resolves, waiting the backoff's next delay after
 * each failure; the backoff starts over after a success.
 */
export async function untilDone<R>(
  attempt: (n: number) => Promise<R>,
  backoff: Backoff,
  failed: (err: unknown, n: number) => void,
): Promise<R> {
  for (let n = 0; ; n++) {
    try {
      const result = await attempt(n);
      backoff.reset();
      return result;
    } catch (err) {
      failed(err, n);
      await new Promise((resolve) => setTimeout(resolve, backoff.nextDelay()));
    }
  }
}

/**
 * Group commit with backpressure, for the event log and for the readings:
 * whatever is queued while one batch is written goes into the next (never
 * one write per item), a batch that fails is retried as it was, with the
 * same items and in the same order, until it commits (so a batch key
 * written with it names it across retries), and producers are told to wait
 * while `maxPending` units are queued, so the queue stays bounded.
 */
export class GroupCommitQueue<T, B> {
  private items: T[] = [];
  private sizes: number[] = [];
  /** The items of the batch being written (back to empty once it commits). */
  private taken: readonly T[] = [];
  private units = 0;
  private running: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private readonly backoff = new Backoff(WRITE_RETRY);
  /** When the last batch was taken (performance.now()). */
  private lastStart = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: GroupCommitOptions<T, B>) {}

  /** Units queued, the batch being written included. */
  get pending(): number {
    return this.units;
  }

  /** The first item not yet committed. */
  get oldest(): T | undefined {
    return this.taken[0] ?? this.items[0];
  }

  /** True while producers may go on without waiting. */
  hasRoom(): boolean {
    return this.units < this.options.maxPending;
  }

  /** Resolves once there is room again. */
  room(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Queues an item counting `size` units (0 is allowed: a device row carries
   * no readings). Nothing is written until `start`, so a producer adds what
   * belongs together first.
   */
  add(item: T, size: number): void {
    this.items.push(item);
    this.sizes.push(size);
    this.units += size;
  }

  /** Starts writing what is queued, unless a write is running (it takes the rest when it is done). */
  start(): void {
    if (this.items.length > 0) this.running ??= this.run();
  }

  /** Resolves once everything pushed so far is committed. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Wakes every producer waiting for room (at shutdown, so none hangs). */
  release(): void {
    this.waiters.splice(0).forEach((wake) => wake());
  }

  private async run(): Promise<void> {
    const { maxBatch, minIntervalMs = 0 } = this.options;
    while (this.items.length > 0) {
      const wait = this.lastStart + minIntervalMs - performance.now();
      if (wait > 0 && this.units < maxBatch) await new Promise((resolve) => setTimeout(resolve, wait));
      this.lastStart = performance.now();
      let end = 0;
      let units = 0;
      while (end < this.items.length && units < maxBatch) units += this.sizes[end++];
      const taken = end === this.items.length ? this.items : this.items.slice(0, end);
      if (end === this.items.length) {
        this.items = [];
        this.sizes = [];
      } else {
        this.items = this.items.slice(end);
        this.sizes = this.sizes.slice(end);
      }
      this.taken = taken;
      const batch = this.options.seal(taken, units);
      await untilDone(
        (attempt) => this.options.commit(batch, attempt),
        this.backoff,
        (err, attempt) => this.options.failed(err, attempt),
      );
      this.taken = [];
      this.units -= units;
      if (this.hasRoom()) this.release();
    }
    this.running = undefined;
  }
}

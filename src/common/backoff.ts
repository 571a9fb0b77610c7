export interface BackoffOptions {
  /** First delay's upper bound. @default 500 */
  initialMs?: number;
  /** No delay is longer than this. @default 30000 */
  maxMs?: number;
  /** Source of jitter in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * Capped, jittered backoff: the external broker's reconnects (issue #2:
 * "reconnect forever with capped, jittered backoff") and the retries of
 * every group-commit queue (the event log's and the readings'). Attempt n waits a random time in [d/2, d] with
 * d = min(maxMs, initialMs * 2^n): the ceiling keeps a long outage from
 * stretching retries out, the jitter keeps many instances from reconnecting in
 * step when the broker or database comes back. One timer at most (`schedule`).
 */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 30_000;
    this.random = options.random ?? Math.random;
  }

  /** Attempts scheduled since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** The next delay; each call moves one attempt further. */
  nextDelay(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + (ceiling / 2) * this.random());
  }

  /** Runs `action` after the next delay, replacing any retry already scheduled; returns the delay. */
  schedule(action: () => void): number {
    this.cancel();
    const delay = this.nextDelay();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      action();
    }, delay);
    return delay;
  }

  /** After a success: the next outage starts from the shortest delay again. */
  reset(): void {
    this.attempt = 0;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

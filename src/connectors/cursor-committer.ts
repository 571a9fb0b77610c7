import type { Logger } from '@nestjs/common';
import type { ConnectorDelta } from './connectors.repository';

/** A cursor that only passed over events the filter leaves out is committed at most this often. */
const IDLE_COMMIT_MS = 1000;

/**
 * Records one connector's progress in its row: one commit in flight at a
 * time, and whatever happens meanwhile (more acknowledged batches, failures,
 * a cursor moved past filtered-out events) folded into the next, so a busy
 * connector writes its row a few times a second, not once per request, and
 * never waits for it before reading its next batch. A failed commit keeps
 * its figures for the next; a refused one (the lease or the epoch moved on)
 * is dropped and reported.
 */
export class CursorCommitter {
  private delta: ConnectorDelta | undefined;
  private committing: Promise<void> | undefined;
  /** The wait before the next commit, while it runs: an acknowledged delivery cuts it short. */
  private waiting: (() => void) | undefined;
  /** An acknowledged delivery came while a commit was in flight: the next goes as soon as that one ends. */
  private due = false;
  private lastCommitAt = 0;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly commit: (epoch: number, delta: ConnectorDelta) => Promise<boolean>,
    /** The cursor epoch the worker delivers under now. */
    private readonly epoch: () => number,
    private readonly fenced: () => void,
    private readonly logger: Logger,
  ) {}

  /** The delta the next commit carries, with the worker's cursor and failing time as they are now. */
  next(cursor: number, failingSince: number | null): ConnectorDelta {
    this.delta ??= { cursorId: cursor, deliveries: 0, failures: 0, eventsDelivered: 0, failingSince };
    this.delta.cursorId = cursor;
    this.delta.failingSince = failingSince;
    return this.delta;
  }

  /** Forgets what was not committed (a replay moved the cursor). */
  drop(): void {
    this.delta = undefined;
  }

  /**
   * Commits now (`now`: a delivery's outcome, which a crash would otherwise
   * send again), or no sooner than IDLE_COMMIT_MS after the last commit (a
   * cursor that only passed over filtered-out events). With a commit in
   * flight, the next one goes as soon as it ends: what a crash sends again
   * is at most what was acknowledged during one commit.
   */
  schedule(now: boolean): void {
    if (this.committing !== undefined) {
      if (!now) return;
      if (this.waiting !== undefined) this.waiting();
      else this.due = true;
      return;
    }
    const wait = now ? 0 : Math.max(0, this.lastCommitAt + IDLE_COMMIT_MS - Date.now());
    this.committing = new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.waiting?.(), wait).unref();
      this.waiting = () => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve();
      };
    })
      .then(() => this.once())
      .finally(() => {
        this.committing = undefined;
        const due = this.due;
        this.due = false;
        if (this.delta !== undefined && !this.stopped) this.schedule(due);
      });
  }

  /** Commits what is left, once the commit in flight is done; no more are scheduled. */
  async close(): Promise<void> {
    this.stopped = true;
    this.waiting?.();
    await this.committing;
    await this.once();
  }

  private async once(): Promise<void> {
    const delta = this.delta;
    if (delta === undefined) return;
    this.delta = undefined;
    this.lastCommitAt = Date.now();
    const epoch = this.epoch();
    try {
      if (!(await this.commit(epoch, delta))) this.fenced();
    } catch (err) {
      // The database away: the figures go with the next commit (cursor and last values there are newer).
      this.logger.warn(`Connector ${this.name}: committing the cursor failed: ${String(err)}`);
      if (epoch === this.epoch()) this.mergeBack(delta);
    }
  }

  /** A failed commit's figures join the next one; its cursor gives way to a newer one. */
  private mergeBack(old: ConnectorDelta): void {
    const d = this.delta;
    if (d === undefined) {
      this.delta = old;
      return;
    }
    d.deliveries += old.deliveries;
    d.failures += old.failures;
    d.eventsDelivered += old.eventsDelivered;
    d.lastStatus ??= old.lastStatus;
    if (d.lastError === undefined && old.lastError !== undefined) d.lastError = old.lastError;
    d.lastAttemptAt ??= old.lastAttemptAt;
    d.lastSuccessAt ??= old.lastSuccessAt;
  }
}

import type { Logger } from '@nestjs/common';
import type { DeviceEvent, EventFilter } from '../bus/device-event';
import type { EventPage } from '../bus/event-bus.service';
import { Backoff } from '../common/backoff';
import type { ConnectorsConfig } from '../config/app-config';
import type { ConnectorRecord } from './connector.entity';
import type { ConnectorMetrics } from './connector-metrics';
import type { ConnectorDelta } from './connectors.repository';
import { compileFilter } from './connector-reader';
import { CursorCommitter } from './cursor-committer';
import { deliveryBody, deliveryHeaders } from './delivery-body';
import type { SendResult } from './webhook-sender';
import { WebhookSender } from './webhook-sender';

/** How often an idle connector looks at the log without a wake-up (events committed by an instance with no shared feed). */
const IDLE_POLL_MS = 2000;

/** What the worker needs from the service around it. */
export interface WorkerContext {
  readPage(filter: EventFilter, afterId: string, limit: number): Promise<EventPage>;
  commit(name: string, epoch: number, delta: ConnectorDelta): Promise<boolean>;
  /** False once this instance may no longer be holding the lease (renewals failing). */
  leaseValid(): boolean;
  /** Called when a commit was refused: another instance, or a replay, owns the cursor now. */
  fenced(name: string): void;
  readonly settings: ConnectorsConfig;
  readonly topicPrefix: string;
  readonly metrics: ConnectorMetrics;
  readonly logger: Logger;
}

/** A batch read from the log and not yet acknowledged. */
interface Pending {
  events: DeviceEvent[];
  reset?: EventPage['reset'];
  /** The cursor once it is acknowledged. */
  through: number;
  /** Held through every retry: the receiver may dedupe on it as on event ids. */
  deliveryId: string;
}

/** The figures an operator reads, as this instance knows them. */
export interface WorkerFigures {
  cursor: number;
  failingSince: number | null;
  /** Received time (ms) of the oldest event read and not yet acknowledged. */
  oldestPendingAt?: number;
  lastStatus: number | null;
  lastError: string | null;
  lastAttemptAt: number | null;
  lastSuccessAt: number | null;
}

/**
 * Delivers one connector (issue #16): reads pages of matching events
 * after its cursor from the log, POSTs each as one signed request, and on
 * a 2xx moves the cursor and commits it; on anything else retries the same
 * batch after a jittered, doubling delay (common/backoff.ts), never skipping
 * ahead, so events arrive in log order, at least once. Its own loop, its
 * own socket: a slow or dead receiver delays this connector only. Idle, it
 * waits for `wake()` (a committed batch on the feed) and reads nothing per
 * event on the ingest path.
 */
export class ConnectorWorker {
  private record: ConnectorRecord;
  private filter: EventFilter;
  private sender: WebhookSender;
  private readonly backoff: Backoff;
  private pending: Pending | undefined;
  private cursor: number;
  private failingSince: number | null;
  private readonly committer: CursorCommitter;
  private woken = false;
  private sleeping: { wakeable: boolean; cut: () => void } | undefined;
  private reportedFailing = false;
  /** Moves with every update: a read begun before one is of the old definition. */
  private generation = 0;
  private abort: AbortController | undefined;
  private stopped = false;
  private readonly loop: Promise<void>;
  readonly figures: WorkerFigures;

  constructor(
    record: ConnectorRecord,
    private readonly ctx: WorkerContext,
  ) {
    this.record = record;
    this.filter = compileFilter(record, ctx.topicPrefix);
    this.sender = new WebhookSender(record.url, ctx.settings.allowPrivate);
    this.backoff = new Backoff({ initialMs: ctx.settings.retryInitialMs, maxMs: ctx.settings.retryMaxMs });
    this.cursor = record.cursorId;
    this.failingSince = record.failingSince;
    this.figures = {
      cursor: record.cursorId,
      failingSince: record.failingSince,
      lastStatus: record.lastStatus,
      lastError: record.lastError,
      lastAttemptAt: record.lastAttemptAt,
      lastSuccessAt: record.lastSuccessAt,
    };
    this.committer = new CursorCommitter(
      record.name,
      (epoch, delta) => ctx.commit(record.name, epoch, delta),
      () => this.record.cursorEpoch,
      () => ctx.fenced(record.name),
      ctx.logger,
    );
    this.loop = this.run();
  }

  get name(): string {
    return this.record.name;
  }

  get version(): number {
    return this.record.version;
  }

  get paused(): boolean {
    return this.record.paused;
  }

  /** True once failures have lasted CONNECTORS_FAILING_AFTER. */
  failing(now = Date.now()): boolean {
    return this.failingSince !== null && now - this.failingSince >= this.ctx.settings.failingAfterMs;
  }

  /** New events are committed up to `head`: an idle worker reads them. */
  wake(head: number): void {
    if (head <= this.cursor) return;
    this.woken = true;
    if (this.sleeping?.wakeable) this.sleeping.cut();
  }

  /** The row changed (an operator's edit, pause, resume or replay): takes it, and starts over from the cursor. */
  update(record: ConnectorRecord): void {
    const replayed = record.cursorEpoch !== this.record.cursorEpoch;
    const target = record.url !== this.record.url;
    this.record = record;
    this.filter = compileFilter(record, this.ctx.topicPrefix);
    if (target) {
      this.sender.close();
      this.sender = new WebhookSender(record.url, this.ctx.settings.allowPrivate);
    }
    if (replayed) {
      this.cursor = record.cursorId;
      this.failingSince = null;
      this.committer.drop();
    }
    // What was read under the old definition is read again under the new one, from the acknowledged cursor.
    this.generation++;
    this.pending = undefined;
    this.backoff.reset();
    this.abort?.abort();
    this.woken = true;
    this.sleeping?.cut();
  }

  /** Stops delivering; what was acknowledged is committed first. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.sleeping?.cut();
    await this.loop;
    await this.committer.close();
    this.sender.close();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.step();
      } catch (err) {
        // A read that failed (the database away): try again later, from the same cursor.
        this.ctx.logger.warn(`Connector ${this.name}: ${err instanceof Error ? err.message : String(err)}`);
        await this.sleep(this.backoff.nextDelay(), false);
      }
    }
  }

  private async step(): Promise<void> {
    if (this.record.paused || !this.ctx.leaseValid()) return this.sleep(IDLE_POLL_MS, true);
    if (this.pending === undefined) {
      this.woken = false;
      const generation = this.generation;
      const page = await this.ctx.readPage(this.filter, String(this.cursor), this.record.batchSize);
      // An update while reading: what was read may be the old definition's.
      if (this.stopped || generation !== this.generation) return;
      if (page.events.length === 0 && page.reset === undefined) {
        this.advance(Number(page.cursor));
        if (!this.woken) await this.sleep(IDLE_POLL_MS, true);
        return;
      }
      const first = page.events[0]?.id ?? page.cursor;
      this.pending = {
        events: page.events,
        ...(page.reset ? { reset: page.reset } : {}),
        through: Number(page.cursor),
        deliveryId: `${this.name}:${first}-${page.cursor}`,
      };
      this.figures.oldestPendingAt = page.events[0] ? Date.parse(page.events[0].received_at) : undefined;
    }
    const pending = this.pending;
    const result = await this.send(pending);
    if (this.stopped || this.pending !== pending) return;
    if (result.ok) this.acknowledged(pending, result);
    else {
      this.failed(result);
      await this.sleep(this.backoff.nextDelay(), false);
    }
  }

  private async send(pending: Pending): Promise<SendResult> {
    const body = deliveryBody(this.name, pending.deliveryId, pending.events, pending.reset);
    const headers = deliveryHeaders(this.record, pending.deliveryId, body);
    this.abort = new AbortController();
    const result = await this.sender.send(body, headers, this.record.timeoutMs, this.abort.signal);
    this.abort = undefined;
    this.ctx.metrics.requestSeconds.observe({ connector: this.name }, result.durationMs / 1000);
    return result;
  }

  private acknowledged(pending: Pending, result: SendResult): void {
    const now = Date.now();
    this.pending = undefined;
    this.figures.oldestPendingAt = undefined;
    this.cursor = Math.max(this.cursor, pending.through);
    if (this.reportedFailing) this.ctx.logger.log(`Connector ${this.name} delivers again`);
    this.failingSince = null;
    this.reportedFailing = false;
    this.backoff.reset();
    Object.assign(this.figures, {
      lastStatus: result.status ?? null,
      lastError: null,
      lastAttemptAt: now,
      lastSuccessAt: now,
    });
    this.ctx.metrics.requests.inc({ connector: this.name, outcome: 'success' });
    this.ctx.metrics.events.inc({ connector: this.name }, pending.events.length);
    const d = this.nextDelta();
    d.deliveries++;
    d.eventsDelivered += pending.events.length;
    Object.assign(d, { lastStatus: result.status ?? null, lastError: null, lastAttemptAt: now, lastSuccessAt: now });
    this.committer.schedule(true);
  }

  private failed(result: SendResult): void {
    const now = Date.now();
    const error = (result.error ?? 'failed').slice(0, 1000);
    if (this.failingSince === null) this.failingSince = now;
    Object.assign(this.figures, { lastStatus: result.status ?? null, lastError: error, lastAttemptAt: now });
    this.ctx.metrics.requests.inc({ connector: this.name, outcome: 'failure' });
    const d = this.nextDelta();
    d.failures++;
    Object.assign(d, { lastStatus: result.status ?? null, lastError: error, lastAttemptAt: now });
    if (this.failing(now) && !this.reportedFailing) {
      this.reportedFailing = true;
      this.ctx.logger.warn(
        `Connector ${this.name} is failing since ${new Date(this.failingSince).toISOString()}: ${error}`,
      );
    }
    this.committer.schedule(true);
  }

  /** Passed over events the filter leaves out: the cursor moves, committed now and then. */
  private advance(cursor: number): void {
    if (cursor <= this.cursor) return;
    this.cursor = cursor;
    this.nextDelta();
    this.committer.schedule(false);
  }

  /** The next commit's delta, and the figures shown, brought up to the worker's cursor. */
  private nextDelta(): ConnectorDelta {
    this.figures.cursor = this.cursor;
    this.figures.failingSince = this.failingSince;
    return this.committer.next(this.cursor, this.failingSince);
  }

  /** Waits `ms`, or less: an update or stop cuts any wait short, new events only an idle (`wakeable`) one. */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(cut, ms);
      const sleeping = { wakeable, cut };
      this.sleeping = sleeping;
      function cut(): void {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => (this.sleeping = undefined));
  }
}

import { randomBytes } from 'node:crypto';
import type { BeforeApplicationShutdown, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Observable, Subject, filter, from, mergeMap } from 'rxjs';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { RedisRepository } from '../cluster/redis.repository';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { refusedForItsData } from '../database/write-errors';
import { MetricsService } from '../observability/metrics.service';
import type { DeviceEvent, EventFilter, NewEvent, StreamItem } from './device-event';
import { eventJson, matchesFilter } from './device-event';
import { EventLogRepository } from './event-log.repository';
import type { Appended } from './event-log.repository';
import { messageBoundary } from './message-ids';
import { OrderedMerge } from './ordered-merge';

/** Events per transaction at most; a busy log commits as fast as the database allows. */
const MAX_BATCH = 5000;
/** Events waiting for the log before publishers are made to wait (backpressure to MQTT). */
const MAX_PENDING = 50_000;
/** Rows per page when a stream replays from the log. */
const REPLAY_PAGE = 1000;
/** Rows one `readPage` call examines at most. */
const READ_SCAN_ROWS = 10 * REPLAY_PAGE;
/** Live events held while a stream replays; past this it re-reads the log instead. */
const REPLAY_BUFFER = 10_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;
/** Redis channel (in the deployment's namespace) on which instances announce committed batches. */
const EVENTS_CHANNEL = 'events';
/** While Redis is down, how often the log is checked for other instances' events. */
const LOG_POLL_MS = 250;

const isWritten = (e: DeviceEvent | undefined): e is DeviceEvent => e !== undefined;

/** A page of the log (`readPage`). */
export interface EventPage {
  events: DeviceEvent[];
  /** Read on after this position. */
  cursor: string;
  /** True when more matching events may follow at once (a full page, or the scan limit reached). */
  more: boolean;
  /** Set when the asked position was pruned (or is unknown): the page starts after `retainedAfter`. */
  reset?: { requested: string; retainedAfter: string };
}

/** An event the log refused, and what the database said. */
export interface RefusedEvent {
  /** The event's channel, `{prefix}/{type}/{id}/{event}` (bridge.md, "Signalling mirror"). */
  topic: string;
  event: NewEvent;
  detail: string;
}

interface Pending {
  events: readonly NewEvent[];
  done: (positioned: DeviceEvent[]) => void;
}

/**
 * The event bus (issues #2 and #5). Events are written to the log in batches
 * (group commit: one transaction carries whatever arrived while the previous
 * one was being written), the log gives them their positions, and only then
 * do they reach subscribers, so no client sees an event a clean shutdown
 * would lose.
 *
 * With `REDIS_URL` several instances share one PostgreSQL log: each announces
 * its committed batches on Redis, and every instance merges its own and the
 * others' batches back into id order (OrderedMerge), reading from the log
 * whatever Redis did not bring. See docs/architecture.md.
 */
@Injectable()
export class EventBusService implements OnModuleInit, BeforeApplicationShutdown, OnModuleDestroy {
  private readonly logger = new Logger(EventBusService.name);
  private readonly committed = new Subject<readonly DeviceEvent[]>();
  private queue: Pending[] = [];
  /** The batch being written, taken from the head of the queue (back at its head when the write fails). */
  private writing: readonly Pending[] = [];
  private queued = 0;
  private flushing: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private pruneTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private writeFailing = false;
  private lastDelivered = 0;
  private merge: OrderedMerge | undefined;

  /** Names this instance's batches in the log (`event_batches`), so a retried batch is known there. */
  private readonly instanceKey = randomBytes(8).toString('hex');
  private batchCount = 0;

  private readonly refusals = new Subject<RefusedEvent>();

  /**
   * Counters for health and metrics; `duplicates`: events of redelivered
   * messages, not logged again; `refused`: events the log refused (rejects).
   */
  readonly stats = {
    batches: 0,
    events: 0,
    lastBatchSize: 0,
    lastWriteMs: 0,
    writeErrors: 0,
    duplicates: 0,
    refused: 0,
  };

  /** Events the log refused for their data; RejectsService keeps them. */
  readonly refused$: Observable<RefusedEvent> = this.refusals.asObservable();

  /** Every committed batch, in log order. */
  readonly batches$: Observable<readonly DeviceEvent[]> = this.committed.asObservable();

  constructor(
    private readonly log: EventLogRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly redis: RedisRepository,
    private readonly lease: ClusterLeaseService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.lastDelivered = await this.log.lastId();
    const every = Math.min(this.config.eventRetentionMs, 60_000);
    this.pruneTimer = setInterval(() => void this.prune(), every);
    this.pruneTimer.unref();
    if (this.redis.enabled) await this.joinCluster();
  }

  private async joinCluster(): Promise<void> {
    const merge = new OrderedMerge(
      this.lastDelivered,
      (batch) => this.emit(batch),
      (after, through) => this.log.readRange(after, through, REPLAY_PAGE),
      (err) => this.logger.warn(`Reading missed events from the log failed: ${String(err)}`),
    );
    this.merge = merge;
    await this.redis.subscribe(this.redis.key(EVENTS_CHANNEL), (message) =>
      merge.offer(JSON.parse(message.toString()) as DeviceEvent[]),
    );
    this.redis.onReconnect(() => void this.catchUpFromLog());
    try {
      await this.redis.connect();
    } catch (err) {
      this.logger.warn(
        `Redis unreachable at start-up; reading other instances' events from the log until it is back: ${String(err)}`,
      );
    }
    // While Redis is down, other instances' events are still found in the log.
    this.pollTimer = setInterval(() => {
      if (!this.redis.connected) void this.catchUpFromLog();
    }, LOG_POLL_MS);
    this.pollTimer.unref();
  }

  private async catchUpFromLog(): Promise<void> {
    try {
      this.merge?.catchUp(await this.log.lastId());
    } catch {
      // The database is down too; health says so, and the next tick retries.
    }
  }

  onModuleDestroy(): void {
    clearInterval(this.pruneTimer);
  }

  /**
   * Nest stops producers in `onModuleDestroy` (ingestion closes MQTT there),
   * then calls this, then closes the database in `onApplicationShutdown`: so
   * the log is flushed after the last event comes in and before the database goes.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
    clearInterval(this.pollTimer);
    this.merge?.stop();
    this.committed.complete();
    this.refusals.complete();
  }

  /** True while the log cannot be written (events are held in memory meanwhile) or Redis is away. */
  get degraded(): boolean {
    return this.writeFailing || (this.redis.enabled && !this.redis.connected);
  }

  /**
   * Queues events for the log and resolves with them, positioned, once they
   * are written. Waits first when too many events are already pending.
   */
  async publish(events: readonly NewEvent[]): Promise<DeviceEvent[]> {
    return (await this.enqueue(events)).written;
  }

  /**
   * Queues events for the log, after waiting while too many are pending, and
   * resolves once they are queued: a producer may queue its next events
   * while these are being written. Queued events are written in queue order.
   */
  async enqueue(events: readonly NewEvent[]): Promise<{ written: Promise<DeviceEvent[]> }> {
    while (this.queued >= MAX_PENDING) await new Promise<void>((resolve) => this.waiters.push(resolve));
    const written = new Promise<DeviceEvent[]>((done) => {
      this.queue.push({ events, done });
      this.queued += events.length;
      this.flushing ??= this.flushLoop();
    });
    return { written };
  }

  async publishOne(event: NewEvent): Promise<DeviceEvent> {
    const [positioned] = await this.publish([event]);
    // Only device messages with a message_id are ever left out, and those are not published one by one.
    if (positioned === undefined) throw new Error('the event log did not take the event');
    return positioned;
  }

  /** Live events matching the filter, from now on. */
  live(eventFilter: EventFilter = {}): Observable<DeviceEvent> {
    return this.batches$.pipe(
      mergeMap((batch) => from(batch)),
      filter((e) => matchesFilter(e, eventFilter)),
    );
  }

  /**
   * Events after `afterId` from the log, then live ones, with no gap and no
   * duplicate. When the position was pruned (or is unknown) the stream starts
   * with a `reset` item and carries on from the oldest event kept.
   */
  stream(eventFilter: EventFilter = {}, afterId?: string): Observable<StreamItem> {
    return new Observable<StreamItem>((subscriber) => {
      let last = afterId === undefined ? Number.POSITIVE_INFINITY : Number(afterId);
      let replaying = afterId !== undefined;
      let buffer: DeviceEvent[] = [];
      let overflowed = false;
      const emit = (event: DeviceEvent): void => {
        const id = Number(event.id);
        if (id <= last && Number.isFinite(last)) return;
        last = id;
        subscriber.next({ kind: 'event', event });
      };
      const liveSub = this.live(eventFilter).subscribe({
        next: (event) => {
          if (!replaying) return emit(event);
          if (buffer.length >= REPLAY_BUFFER) {
            buffer = [];
            overflowed = true;
          } else buffer.push(event);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      if (afterId !== undefined) {
        this.replay(
          eventFilter,
          afterId,
          (item) => {
            if (item.kind === 'reset') {
              last = Number(item.retainedAfter);
              subscriber.next(item);
            } else emit(item.event);
          },
          () => {
            if (!overflowed) return false;
            overflowed = false;
            return true;
          },
        )
          .then(() => {
            replaying = false;
            const held = buffer;
            buffer = [];
            held.forEach(emit);
          })
          .catch((err: unknown) => subscriber.error(err));
      }
      return () => liveSub.unsubscribe();
    });
  }

  private async replay(
    eventFilter: EventFilter,
    afterId: string,
    push: (item: StreamItem) => void,
    overflowedSinceCheck: () => boolean,
  ): Promise<void> {
    const start = await this.resumePoint(afterId);
    if (start.reset) push(start.reset);
    let after = start.after;
    for (;;) {
      const page = await this.log.readAfter(after, eventFilter, REPLAY_PAGE);
      for (const event of page) {
        after = Number(event.id);
        if (eventFilter.allow === undefined || eventFilter.allow(event)) push({ kind: 'event', event });
      }
      // A full page may have more behind it; an overflowed live buffer means
      // live events were dropped and must be read back from the log.
      if (page.length < REPLAY_PAGE && !overflowedSinceCheck()) return;
    }
  }

  /** Where reading after `afterId` starts, and the reset to tell the client when that position is gone. */
  private async resumePoint(afterId: string): Promise<{ after: number; reset?: StreamItem & { kind: 'reset' } }> {
    const after = Number(afterId);
    const prunedThrough = await this.log.prunedThrough();
    // Another instance may be a moment ahead of this one: only the log knows the newest id.
    const newest = after > this.lastDelivered ? await this.log.lastId() : this.lastDelivered;
    if (Number.isInteger(after) && after >= 0 && after >= prunedThrough && after <= newest) return { after };
    const retainedAfter = after > newest ? newest : prunedThrough;
    return { after: retainedAfter, reset: { kind: 'reset', requested: afterId, retainedAfter: String(retainedAfter) } };
  }

  /**
   * One page of logged events after a position, for polling and for paced
   * catch-up on HTTP streams (issue #3): at most `limit` events that pass the
   * filter, oldest first, and the position to continue from. Without
   * `afterId` the page is empty and the cursor is the newest delivered
   * position. At most READ_SCAN_ROWS rows are examined per call, so a narrow
   * `allow` test over a long log costs several calls, not one long one.
   */
  async readPage(eventFilter: EventFilter, afterId: string | undefined, limit: number): Promise<EventPage> {
    // Every id up to what this instance has delivered is committed, so it is safe to move the cursor there.
    const head = this.lastDelivered;
    if (afterId === undefined) return { events: [], cursor: String(head), more: false };
    const start = await this.resumePoint(afterId);
    const reset = start.reset
      ? { reset: { requested: start.reset.requested, retainedAfter: start.reset.retainedAfter } }
      : {};
    let after = start.after;
    const events: DeviceEvent[] = [];
    const pageSize = eventFilter.allow === undefined ? Math.min(limit, REPLAY_PAGE) : REPLAY_PAGE;
    for (let scanned = 0; scanned < READ_SCAN_ROWS;) {
      const page = await this.log.readAfter(after, eventFilter, pageSize);
      scanned += page.length;
      for (const event of page) {
        after = Number(event.id);
        if (eventFilter.allow !== undefined && !eventFilter.allow(event)) continue;
        events.push(event);
        if (events.length >= limit) return { events, cursor: event.id, more: true, ...reset };
      }
      if (page.length < pageSize) return { events, cursor: String(Math.max(head, after)), more: false, ...reset };
    }
    return { events, cursor: String(after), more: true, ...reset };
  }

  /** Throws when the log's database does not answer. */
  async checkLog(): Promise<void> {
    await this.log.ping();
  }

  /**
   * What is not in the log yet: how many events, and the oldest of them (the
   * first to be written). Shutdown names it when it runs out of time.
   */
  backlog(): { events: number; oldest?: NewEvent } {
    const first = this.writing[0] ?? this.queue[0];
    return { events: this.queued, ...(first ? { oldest: first.events[0] } : {}) };
  }

  /** Resolves when everything published so far is in the log. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private emit(batch: readonly DeviceEvent[]): void {
    this.lastDelivered = Number(batch[batch.length - 1].id);
    this.committed.next(batch);
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const taken: Pending[] = [];
      let count = 0;
      while (this.queue.length > 0 && count < MAX_BATCH) {
        const next = this.queue.shift() as Pending;
        taken.push(next);
        count += next.events.length;
      }
      this.writing = taken;
      const batch = taken.length === 1 ? taken[0].events : taken.flatMap((p) => p.events);
      const appended = await this.write(batch);
      this.writing = [];
      this.queued -= batch.length;
      let offset = 0;
      for (const p of taken) {
        // A redelivered message's events are in the log already: its producer is answered as if written.
        p.done(appended.slice(offset, offset + p.events.length).filter(isWritten));
        offset += p.events.length;
      }
      if (this.queued < MAX_PENDING) this.waiters.splice(0).forEach((wake) => wake());
    }
    this.flushing = undefined;
  }

  /**
   * Appends one batch, retrying the same batch under the same key until the
   * log takes it (a retry of a batch that did commit then finds it there),
   * and delivers what was written.
   */
  private async write(batch: readonly NewEvent[]): Promise<Appended> {
    const key = `${this.instanceKey}-${++this.batchCount}`;
    let delay = RETRY_MIN_MS;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let appended: Appended;
      try {
        appended = await this.log.append(batch, key, attempt > 0);
      } catch (err) {
        if (refusedForItsData(err)) return this.split(batch, err);
        // Keep the batch and its order; publishers wait (bounded) until the log is back.
        this.stats.writeErrors++;
        if (!this.writeFailing)
          this.logger.error(`Event log write failed, holding ${this.queued} events: ${String(err)}`);
        this.writeFailing = true;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
        continue;
      }
      if (this.writeFailing) this.logger.log('Event log writable again');
      this.writeFailing = false;
      const positioned = appended.filter(isWritten);
      this.stats.duplicates += batch.length - positioned.length;
      if (positioned.length > 0) this.delivered(positioned, performance.now() - started);
      return appended;
    }
  }

  /**
   * A batch the log refuses for its data, not its state (issue #11, item 4):
   * retrying it would fail forever and hold every event behind it, so it is
   * halved (never inside a device message) until the refused events are
   * found. Those go to the rejects; the rest are written in order, and all
   * their producers are answered.
   */
  private async split(batch: readonly NewEvent[], err: unknown): Promise<Appended> {
    if (batch.length === 1) {
      this.refuse(batch[0], err);
      return [undefined];
    }
    const half = batch.length >> 1;
    const boundary = messageBoundary(batch, half);
    const cut = boundary === 0 || boundary === batch.length ? half : boundary;
    const head = await this.write(batch.slice(0, cut));
    return head.concat(await this.write(batch.slice(cut)));
  }

  /** RejectsService counts, logs (rate-limited) and keeps it. */
  private refuse(event: NewEvent, err: unknown): void {
    this.stats.refused++;
    const detail = err instanceof Error ? err.message : String(err);
    const topic = `${this.config.mqtt.topicPrefix}/${event.device_type}/${event.device_id}/${event.event}`;
    this.refusals.next({ topic, event, detail });
  }

  /** Counts a committed batch and hands it to subscribers (through the merge with other instances' batches). */
  private delivered(positioned: DeviceEvent[], writeMs: number): void {
    this.stats.batches++;
    this.stats.events += positioned.length;
    this.stats.lastBatchSize = positioned.length;
    this.stats.lastWriteMs = writeMs;
    this.metrics.logBatchSize.observe(positioned.length);
    this.metrics.logWriteSeconds.observe(writeMs / 1000);
    if (this.merge) {
      this.redis.publish(this.redis.key(EVENTS_CHANNEL), `[${positioned.map(eventJson).join(',')}]`);
      this.merge.offer(positioned);
    } else this.emit(positioned);
  }

  private async prune(): Promise<void> {
    if (!this.lease.isLeader) return;
    try {
      const removed = await this.log.pruneBefore(Date.now() - this.config.eventRetentionMs);
      if (removed > 0) this.logger.debug(`Pruned ${removed} events older than retention`);
    } catch (err) {
      this.logger.warn(`Event log pruning failed: ${String(err)}`);
    }
  }
}

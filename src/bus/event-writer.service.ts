import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { Subject } from 'rxjs';
import { Backoff } from '../common/backoff';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { GroupCommitQueue, WRITE_RETRY, untilDone } from '../database/group-commit-queue';
import { refusedForItsData } from '../database/write-errors';
import { MetricsService } from '../observability/metrics.service';
import type { Stage } from '../observability/stage-clock';
import { StageClock } from '../observability/stage-clock';
import { CommittedFeed } from './committed-feed';
import type { DeviceEvent, NewEvent } from './device-event';
import type { Appended } from './event-log.repository';
import { EventLogRepository } from './event-log.repository';
import type { IngestFence } from './ingest-fence';
import { FencedError } from './ingest-fence';
import { messageBoundary } from './message-ids';

/** An event the log refused, and what the database said. */
export interface RefusedEvent {
  /** The event's channel, `{prefix}/{type}/{id}/{event}` (bridge.md, "Signalling mirror"). */
  topic: string;
  event: NewEvent;
  detail: string;
}

/** One producer's events and how to answer it. */
interface Pending {
  events: readonly NewEvent[];
  done: (positioned: DeviceEvent[]) => void;
  /** The ingest-lease epoch the events' MQTT messages came under (issue #12), and how to say they were not written. */
  fence?: IngestFence;
  fenced?: (err: FencedError) => void;
}

/** One transaction's worth of producers, under the key that names it in `event_batches`. */
interface Batch {
  pending: readonly Pending[];
  events: readonly NewEvent[];
  key: string;
  fences: readonly IngestFence[];
  /** The last attempt was refused by a fence: it wrote nothing, so the batch may shrink. */
  fencedOut: boolean;
}

const isWritten = (e: DeviceEvent | undefined): e is DeviceEvent => e !== undefined;

/** Bench and debug tracing (StageClock): the stage each event has reached. */
function stamp(events: readonly NewEvent[], stage: Stage): void {
  const at = performance.now();
  for (const e of events) StageClock.mark(e.data, stage, at);
}

/**
 * Writes events to the log (issues #2, #5, #11): group commit through a
 * GroupCommitQueue (one transaction carries whatever arrived while the
 * previous one was written; a failed batch is retried as it was, under its
 * key, until the log takes it), and hands each committed batch to the
 * CommittedFeed, so no subscriber sees an event a clean shutdown would lose.
 */
@Injectable()
export class EventWriterService {
  private readonly logger = new Logger(EventWriterService.name);
  private readonly queue: GroupCommitQueue<Pending, Batch>;
  /** The halves of a refused batch retry on their own (see `split`). */
  private readonly splitBackoff = new Backoff(WRITE_RETRY);
  private writeFailing = false;
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

  constructor(
    private readonly log: EventLogRepository,
    private readonly feed: CommittedFeed,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.queue = new GroupCommitQueue<Pending, Batch>({
      maxBatch: config.eventLog.batchLimit,
      maxPending: config.eventLog.queueLimit,
      seal: (pending) => this.seal(pending),
      commit: (batch, attempt) => this.commit(batch, attempt),
      failed: (err) => this.failed(err),
    });
  }

  /** True while the log cannot be written (events are held in memory meanwhile). */
  get failing(): boolean {
    return this.writeFailing;
  }

  /**
   * Queues events once fewer than `EVENT_QUEUE_LIMIT` wait; `written`
   * resolves with them positioned, or rejects with FencedError when their
   * `fence` ended before they could be written (they never will be).
   */
  async enqueue(events: readonly NewEvent[], fence?: IngestFence): Promise<{ written: Promise<DeviceEvent[]> }> {
    while (!this.queue.hasRoom()) await this.queue.room();
    if (StageClock.on) stamp(events, 'queued');
    const written = new Promise<DeviceEvent[]>((done, fenced) => {
      this.queue.add({ events, done, fence, fenced }, events.length);
      this.queue.start();
    });
    return { written };
  }

  /** What is not in the log yet: how many events, and the oldest of them. */
  backlog(): { events: number; oldest?: NewEvent } {
    const first = this.queue.oldest;
    return { events: this.queue.pending, ...(first ? { oldest: first.events[0] } : {}) };
  }

  /** Resolves when everything queued so far is in the log. */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  /** After the last drain: no refusal follows. */
  close(): void {
    this.refusals.complete();
  }

  private nextKey(): string {
    return `${this.instanceKey}-${++this.batchCount}`;
  }

  private seal(pending: readonly Pending[]): Batch {
    let fences: IngestFence[] | undefined;
    for (const p of pending) if (p.fence && !fences?.includes(p.fence)) (fences ??= []).push(p.fence);
    const events = pending.length === 1 ? pending[0].events : pending.flatMap((p) => p.events);
    if (StageClock.on) stamp(events, 'sealed');
    return { pending, events, key: this.nextKey(), fences: fences ?? [], fencedOut: false };
  }

  private async commit(batch: Batch, attempt: number): Promise<void> {
    // Before anything is written (or after a fence refused it all), messages of an ended epoch leave the
    // batch: the broker sends them again to the lease's holder. Otherwise an attempt may have committed.
    if ((attempt === 0 || batch.fencedOut) && batch.fences.some((f) => !f.current)) this.dropFenced(batch);
    if (batch.events.length === 0) return;
    let appended: Appended;
    try {
      appended = await this.append(batch.events, batch.key, batch.fencedOut ? 0 : attempt, batch.fences);
      batch.fencedOut = false;
    } catch (err) {
      batch.fencedOut = err instanceof FencedError;
      throw err;
    }
    let offset = 0;
    for (const p of batch.pending) {
      // A redelivered message's events are in the log already: its producer is answered as if written.
      p.done(appended.slice(offset, offset + p.events.length).filter(isWritten));
      offset += p.events.length;
    }
  }

  /**
   * One attempt at a batch (a retry of a batch that did commit finds it in
   * the log under its key); delivers what was written. Throws to be retried.
   */
  private async append(
    events: readonly NewEvent[],
    key: string,
    attempt: number,
    fences: readonly IngestFence[] = [],
  ): Promise<Appended> {
    const started = performance.now();
    let appended: Appended;
    try {
      appended = await this.log.append(events, key, attempt > 0, fences);
    } catch (err) {
      if (refusedForItsData(err)) return this.split(events, err);
      throw err;
    }
    if (StageClock.on) stamp(events, 'committed');
    if (this.writeFailing) this.logger.log('Event log writable again');
    this.writeFailing = false;
    const positioned = appended.filter(isWritten);
    this.stats.duplicates += events.length - positioned.length;
    if (positioned.length > 0) this.delivered(positioned, performance.now() - started);
    return appended;
  }

  /** Answers the producers whose fence ended, and keeps the rest of the batch in order under a new key. */
  private dropFenced(batch: Batch): void {
    const kept: Pending[] = [];
    for (const p of batch.pending) {
      if (p.fence === undefined || p.fence.current) kept.push(p);
      else p.fenced?.(new FencedError([p.fence]));
    }
    batch.pending = kept;
    batch.events = kept.flatMap((p) => p.events);
    batch.fences = batch.fences.filter((f) => f.current);
    batch.key = this.nextKey();
    batch.fencedOut = false;
  }

  /** Keeps the batch and its order; publishers wait (bounded) until the log is back. */
  private failed(err: unknown): void {
    if (err instanceof FencedError) {
      // Not a write failure: the lease moved on; the next attempt leaves those messages out.
      this.logger.warn(err.message);
      return;
    }
    this.stats.writeErrors++;
    if (!this.writeFailing)
      this.logger.error(`Event log write failed, holding ${this.queue.pending} events: ${String(err)}`);
    this.writeFailing = true;
  }

  /**
   * A batch the log refuses for its data, not its state (issue #11, item 4):
   * retrying it would fail forever and hold every event behind it, so it is
   * halved (never inside a device message) until the refused events are
   * found. Those go to the rejects; the rest are written in order, and all
   * their producers are answered.
   */
  // The halves go without fences: a split is rare and short, and a lease lost during one may let a half
  // commit messages the successor receives too (duplicates without a message_id, never a loss).
  private async split(batch: readonly NewEvent[], err: unknown): Promise<Appended> {
    if (batch.length === 1) {
      this.refuse(batch[0], err);
      return [undefined];
    }
    const half = batch.length >> 1;
    const boundary = messageBoundary(batch, half);
    const cut = boundary === 0 || boundary === batch.length ? half : boundary;
    const head = await this.appendPart(batch.slice(0, cut));
    return head.concat(await this.appendPart(batch.slice(cut)));
  }

  private appendPart(events: readonly NewEvent[]): Promise<Appended> {
    const key = this.nextKey();
    return untilDone(
      (attempt) => this.append(events, key, attempt),
      this.splitBackoff,
      (err) => this.failed(err),
    );
  }

  /** RejectsService counts, logs (rate-limited) and keeps it. */
  private refuse(event: NewEvent, err: unknown): void {
    this.stats.refused++;
    const detail = err instanceof Error ? err.message : String(err);
    const topic = `${this.config.mqtt.topicPrefix}/${event.device_type}/${event.device_id}/${event.event}`;
    this.refusals.next({ topic, event, detail });
  }

  /** Counts a committed batch and hands it to subscribers (through the feed). */
  private delivered(positioned: DeviceEvent[], writeMs: number): void {
    this.stats.batches++;
    this.stats.events += positioned.length;
    this.stats.lastBatchSize = positioned.length;
    this.stats.lastWriteMs = writeMs;
    this.metrics.logBatchSize.observe(positioned.length);
    this.metrics.logWriteSeconds.observe(writeMs / 1000);
    this.feed.offer(positioned);
  }
}

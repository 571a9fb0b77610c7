import type { BeforeApplicationShutdown, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { CommittedFeed } from './committed-feed';
import type { DeviceEvent, EventFilter, NewEvent, StreamItem } from './device-event';
import type { IngestFence } from './ingest-fence';
import { EventLogRepository } from './event-log.repository';
import { EventPrunerService } from './event-pruner.service';
import type { EventPage, Following } from './event-reader.service';
import { EventReaderService } from './event-reader.service';
import type { RefusedEvent } from './event-writer.service';
import { EventWriterService } from './event-writer.service';

export type { EventPage } from './event-reader.service';
export type { RefusedEvent } from './event-writer.service';

/**
 * The event bus (issues #2 and #5), what producers and transports use: a
 * thin front over its four parts. Events are written to the log in batches
 * (EventWriterService: group commit with retries), the log gives them their
 * positions, and only then do they reach subscribers (CommittedFeed,
 * in-process or through Redis), so no client sees an event a clean shutdown
 * would lose. EventReaderService replays and pages the log;
 * EventPrunerService applies retention. See docs/architecture.md.
 */
@Injectable()
export class EventBusService implements OnModuleInit, BeforeApplicationShutdown, OnModuleDestroy {
  constructor(
    private readonly writer: EventWriterService,
    private readonly feed: CommittedFeed,
    private readonly reader: EventReaderService,
    private readonly pruner: EventPrunerService,
    private readonly log: EventLogRepository,
  ) {}

  /** Counters for health and metrics (EventWriterService.stats). */
  get stats(): EventWriterService['stats'] {
    return this.writer.stats;
  }

  /** Events the log refused for their data; RejectsService keeps them. */
  get refused$(): Observable<RefusedEvent> {
    return this.writer.refused$;
  }

  /** Every committed batch, in log order. */
  get batches$(): Observable<readonly DeviceEvent[]> {
    return this.feed.batches$;
  }

  async onModuleInit(): Promise<void> {
    await this.feed.start();
    this.pruner.start();
  }

  onModuleDestroy(): void {
    this.pruner.stop();
  }

  /**
   * Nest stops producers in `onModuleDestroy` (ingestion closes MQTT there),
   * then calls this, then closes the database in `onApplicationShutdown`: so
   * the log is flushed after the last event comes in and before the database goes.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
    this.feed.stop();
    this.writer.close();
  }

  /** True while the log cannot be written (events are held in memory meanwhile) or Redis is away. */
  get degraded(): boolean {
    return this.writer.failing || this.feed.degraded;
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
   * With a `fence` (MQTT ingestion under an ingest lease, issue #12),
   * `written` rejects with FencedError if the lease ended first.
   */
  enqueue(events: readonly NewEvent[], fence?: IngestFence): Promise<{ written: Promise<DeviceEvent[]> }> {
    return this.writer.enqueue(events, fence);
  }

  async publishOne(event: NewEvent): Promise<DeviceEvent> {
    const [positioned] = await this.publish([event]);
    // Only device messages with a message_id are ever left out, and those are not published one by one.
    if (positioned === undefined) throw new Error('the event log did not take the event');
    return positioned;
  }

  /** Live events matching the filter, from now on. */
  live(eventFilter: EventFilter = {}): Observable<DeviceEvent> {
    return this.reader.live(eventFilter);
  }

  /** Logged events after `afterId`, then live ones, with no gap and no duplicate (EventReaderService.stream). */
  stream(eventFilter: EventFilter = {}, afterId?: string): Observable<StreamItem> {
    return this.reader.stream(eventFilter, afterId);
  }

  /** Every committed batch after a position, from the log and then live, none twice (EventReaderService.follow). */
  follow(afterId: number, next: (batch: readonly DeviceEvent[]) => void): Following {
    return this.reader.follow(afterId, next);
  }

  /** One page of logged events after a position, for polling and paced catch-up (EventReaderService.readPage). */
  readPage(eventFilter: EventFilter, afterId: string | undefined, limit: number): Promise<EventPage> {
    return this.reader.readPage(eventFilter, afterId, limit);
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
    return this.writer.backlog();
  }

  /** Resolves when everything published so far is in the log. */
  drain(): Promise<void> {
    return this.writer.drain();
  }
}

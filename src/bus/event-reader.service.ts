import { Inject, Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { CommittedFeed } from './committed-feed';
import type { DeviceEvent, EventFilter, StreamItem } from './device-event';
import { matchesFilter } from './device-event';
import { EventLogRepository } from './event-log.repository';

/** Rows per page when a stream replays from the log. */
const REPLAY_PAGE = 1000;
/** Rows one `readPage` call examines at most. */
const READ_SCAN_ROWS = 10 * REPLAY_PAGE;

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

type Reset = StreamItem & { kind: 'reset' };

/** A `follow` under way. */
export interface Following {
  /** Resolves once the log's part is read (rejects when the log cannot be read). */
  caughtUp: Promise<void>;
  stop(): void;
}

/**
 * Reads for clients (issue #3): live events from the feed, replay from the
 * log joined to live ones for resume, and paged reads for polling.
 */
@Injectable()
export class EventReaderService {
  constructor(
    private readonly log: EventLogRepository,
    private readonly feed: CommittedFeed,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Live events matching the filter, from now on. One loop over each batch
   * per subscriber (with 100 clients, each event is looked at 100 times: no
   * inner Observable per batch and client, as `mergeMap(from(batch))` made).
   */
  live(eventFilter: EventFilter = {}): Observable<DeviceEvent> {
    return new Observable<DeviceEvent>((subscriber) =>
      this.feed.batches$.subscribe({
        next: (batch) => {
          for (const event of batch) {
            if (subscriber.closed) return;
            if (matchesFilter(event, eventFilter)) subscriber.next(event);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
  }

  /**
   * Events after `afterId` from the log, then live ones, with no gap and no
   * duplicate. When the position was pruned (or is unknown) the stream starts
   * with a `reset` item and carries on from the oldest event kept. Live
   * events are held while the log is read, EVENT_REPLAY_BUFFER at most: past
   * it they are dropped and read back from the log instead.
   */
  stream(eventFilter: EventFilter = {}, afterId?: string): Observable<StreamItem> {
    const bufferLimit = this.config.eventLog.replayBuffer;
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
          if (buffer.length >= bufferLimit) {
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

  /**
   * Every committed batch after `afterId`, in log order and none twice:
   * read from the log first (in pages), then live from the feed, whose
   * batches are held meanwhile (EVENT_REPLAY_BUFFER events at most; past it
   * they are dropped and read back from the log). For those who must see
   * every event once whatever happened while they were away: the registry
   * and the devices-and-readings projection. `caughtUp` resolves once the
   * log's part is read. A position older than the log keeps starts at the
   * oldest event kept.
   */
  follow(afterId: number, next: (batch: readonly DeviceEvent[]) => void): Following {
    const bufferLimit = this.config.eventLog.replayBuffer;
    let last = afterId;
    let replaying = true;
    let held: (readonly DeviceEvent[])[] = [];
    let heldEvents = 0;
    let overflowed = false;
    let stopped = false;
    const emit = (batch: readonly DeviceEvent[]): void => {
      let skip = 0;
      while (skip < batch.length && Number(batch[skip].id) <= last) skip++;
      if (skip === batch.length || stopped) return;
      const fresh = skip === 0 ? batch : batch.slice(skip);
      last = Number(fresh[fresh.length - 1].id);
      next(fresh);
    };
    const live = this.feed.batches$.subscribe((batch) => {
      if (!replaying) return emit(batch);
      heldEvents += batch.length;
      if (heldEvents > bufferLimit) {
        held = [];
        heldEvents = 0;
        overflowed = true;
      } else held.push(batch);
    });
    const caughtUp = (async () => {
      for (;;) {
        const page = await this.log.readAfter(last, {}, REPLAY_PAGE);
        if (stopped) return;
        emit(page);
        if (page.length === REPLAY_PAGE) continue;
        if (!overflowed) break;
        overflowed = false;
      }
      replaying = false;
      const batches = held;
      held = [];
      batches.forEach(emit);
    })();
    return {
      caughtUp,
      stop: () => {
        stopped = true;
        live.unsubscribe();
      },
    };
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
  private async resumePoint(afterId: string): Promise<{ after: number; reset?: Reset }> {
    const after = Number(afterId);
    const prunedThrough = await this.log.prunedThrough();
    const delivered = this.feed.lastDelivered;
    // Another instance may be a moment ahead of this one: only the log knows the newest id.
    const newest = after > delivered ? await this.log.lastId() : delivered;
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
    const head = this.feed.lastDelivered;
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
}

import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Subscription } from 'rxjs';
import type { DeviceEvent, EventFilter } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { MetricsService } from '../observability/metrics.service';
import type { ClientSelection } from './client-selection';
import { PollPositionsRepository } from './poll-positions.repository';

export const POLL_LIMIT_DEFAULT = 100;
export const POLL_LIMIT_MAX = 1000;
/** `?wait=` at most, in seconds. */
export const POLL_WAIT_MAX_SEC = 30;

export interface PollRequest {
  selection: ClientSelection;
  limit: number;
  waitMs: number;
  /** Who is polling, for "since this client's previous poll" (see PollController). */
  clientKey: string;
  /** What it polls: path and event types. */
  selectionKey: string;
  /** Aborted when the client goes away during a long poll. */
  signal: AbortSignal;
}

/** The body of a poll answer (bridge.md: `{"events": [...], "cursor": "…"}`). */
export interface PollAnswer {
  events: DeviceEvent[];
  /** Poll again with this; it is also the id of the last event examined (one position for every transport). */
  cursor: string;
  /** True when more events are waiting: poll again at once. */
  more: boolean;
  /** Set when the asked position is older than EVENT_RETENTION keeps: events were lost to this client. */
  reset?: true;
  requested?: string;
}

/**
 * Polling over the event log (issue #3). A cursor is an event id, so a
 * client can switch between polling and the streams without a gap. Without
 * a cursor the client's previous position on that selection is used, kept
 * in the database so that it holds across restarts and instances.
 */
@Injectable()
export class PollService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PollService.name);
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly delivered: { inc(count: number): void };

  constructor(
    private readonly bus: EventBusService,
    private readonly positions: PollPositionsRepository,
    private readonly lease: ClusterLeaseService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    this.delivered = metrics.eventsDelivered.labels('poll');
  }

  onModuleInit(): void {
    this.pruneTimer = setInterval(() => void this.prune(), Math.min(this.config.eventRetentionMs, 3_600_000));
    this.pruneTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.pruneTimer);
  }

  async poll(req: PollRequest): Promise<PollAnswer> {
    const { filter } = req.selection;
    const stored =
      req.selection.lastEventId === undefined ? await this.positions.get(req.clientKey, req.selectionKey) : undefined;
    const after = req.selection.lastEventId ?? (stored === undefined ? undefined : String(stored));
    let page = await this.bus.readPage(filter, after, req.limit);
    const waitMs = Math.min(req.waitMs, (req.selection.expiresAtMs ?? Number.POSITIVE_INFINITY) - Date.now());
    if (page.events.length === 0 && !page.reset && !page.more && waitMs > 0) {
      if (await this.nextEvent(filter, page.cursor, waitMs, req.signal)) {
        page = await this.bus.readPage(filter, page.cursor, req.limit);
      }
    }
    await this.positions.save(req.clientKey, req.selectionKey, Number(page.cursor));
    if (page.events.length > 0) this.delivered.inc(page.events.length);
    return {
      events: page.events,
      cursor: page.cursor,
      more: page.more,
      ...(page.reset ? { reset: true as const, requested: page.reset.requested } : {}),
    };
  }

  /** Resolves true as soon as an event after `after` passes the filter; false at the deadline or when the client leaves. */
  private nextEvent(filter: EventFilter, after: string, waitMs: number, signal: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      // Closed first if the stream answers while subscribing; add() then unsubscribes at once.
      const subscription = new Subscription();
      let finished = false;
      const done = (found: boolean): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        subscription.unsubscribe();
        resolve(found);
      };
      const onAbort = (): void => done(false);
      const timer = setTimeout(() => done(false), waitMs);
      signal.addEventListener('abort', onAbort);
      subscription.add(
        this.bus.stream(filter, after).subscribe({
          next: () => done(true),
          error: () => done(false),
          complete: () => done(false),
        }),
      );
      if (signal.aborted) done(false);
    });
  }

  private async prune(): Promise<void> {
    if (!this.lease.isLeader) return;
    try {
      await this.positions.pruneBefore(Date.now() - this.config.eventRetentionMs);
    } catch (err) {
      this.logger.warn(`Pruning poll positions failed: ${String(err)}`);
    }
  }
}

import type { Observable, Subscription } from 'rxjs';
import { encodedEvent } from '../bus/device-event';
import type { EncodedEvent } from '../bus/encoded-event';
import type { TransportLabel } from '../observability/metrics.service';
import { StageClock } from '../observability/stage-clock';
import type { DeliveryItem } from './delivery-stream.service';

/**
 * Why the server ends a stream. Each transport says it its own way (a close
 * code, a last SSE event, a last NDJSON line, a socket.io event), always
 * with the same name:
 * - `token_expired`: the client's token ran out; reconnect with a new one.
 * - `slow_consumer`: the client left more than `SEND_BUFFER_LIMIT` unread;
 *   reconnect with the last id received (issue #3, "Slow consumers").
 * - `going_away`: the server is shutting down; reconnect (elsewhere) with the last id.
 * - `internal_error`: the log could not be read; reconnect with the last id.
 */
export type EndReason = 'token_expired' | 'slow_consumer' | 'going_away' | 'internal_error';

export const END_MESSAGES: Record<EndReason, string> = {
  token_expired: 'The token has expired; reconnect with a new token',
  slow_consumer: 'Too much was left unread; reconnect with the last event id received',
  going_away: 'The server is shutting down; reconnect with the last event id received',
  internal_error: 'The event log could not be read; reconnect with the last event id received',
};

/** One client connection (or socket.io subscription) as the delivery loop sees it. */
export interface DeliverySink {
  readonly transport: TransportLabel;
  /** Bytes written to this connection and not yet taken by the network. */
  bufferedBytes(): number;
  /** An event, with its wire forms built once for every connection (EncodedEvent). */
  event(event: EncodedEvent): void;
  /** The asked position is gone; events continue after `lastEventId`, the client's new position. */
  reset(requested: string, lastEventId: string): void;
  /** Last words, then the connection ends. `lastEventId` is the position to resume from. */
  end(reason: EndReason, lastEventId: string | undefined): void;
}

/** What a delivery loop reports, for metrics; called once per event and sink. */
export interface DeliveryMeter {
  sent(transport: TransportLabel, event: EncodedEvent): void;
  slowConsumer(transport: TransportLabel): void;
}

/**
 * Feeds one client's items to its sink. When a burst of events starts (the
 * bus hands over a committed batch in one go) it checks the sink's unsent
 * bytes: past `sendBufferLimit` the stream stops at once (no more is queued
 * for it) and the sink ends with `slow_consumer`. Only what was left over
 * from earlier bursts counts, never the burst being written (which the
 * network has had no chance to take yet), so a client that stops reading
 * costs at most the limit plus one burst of memory.
 * Ends once, whichever comes first: token expiry, slow consumer, shutdown
 * (the bus completes), a log failure, or `close()` when the client left.
 */
export class Delivery {
  private subscription: Subscription | undefined;
  private ended = false;
  private lastId: string | undefined;
  private checkedThisBurst = false;
  private readonly endBurst = (): void => {
    this.checkedThisBurst = false;
  };

  constructor(
    items: Observable<DeliveryItem>,
    private readonly sink: DeliverySink,
    private readonly sendBufferLimit: number,
    private readonly meter: DeliveryMeter,
    private readonly onEnd: (delivery: Delivery) => void = () => undefined,
    resumeFrom?: string,
  ) {
    this.lastId = resumeFrom;
    const subscription = items.subscribe({
      next: (item) => this.next(item),
      error: () => this.finish('internal_error'),
      complete: () => this.finish('going_away'),
    });
    if (this.ended) subscription.unsubscribe();
    else this.subscription = subscription;
  }

  /** The last position this client was given (its resume position). */
  get lastEventId(): string | undefined {
    return this.lastId;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Ends the stream with last words to the client. */
  finish(reason: EndReason): void {
    if (!this.stop()) return;
    if (reason === 'slow_consumer') this.meter.slowConsumer(this.sink.transport);
    this.sink.end(reason, this.lastId);
  }

  /** The client left: stop without last words. */
  close(): void {
    this.stop();
  }

  private stop(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.subscription?.unsubscribe();
    this.onEnd(this);
    return true;
  }

  private next(item: DeliveryItem): void {
    if (this.ended) return;
    switch (item.kind) {
      case 'event': {
        if (!this.checkedThisBurst) {
          this.checkedThisBurst = true;
          queueMicrotask(this.endBurst);
          if (this.sink.bufferedBytes() > this.sendBufferLimit) return this.finish('slow_consumer');
        }
        this.lastId = item.event.id;
        const encoded = encodedEvent(item.event);
        this.sink.event(encoded);
        if (StageClock.on) StageClock.mark(item.event.data, 'sent');
        this.meter.sent(this.sink.transport, encoded);
        return;
      }
      case 'reset':
        this.lastId = item.retainedAfter;
        return this.sink.reset(item.requested, item.retainedAfter);
      case 'expired':
        return this.finish('token_expired');
    }
  }
}

import type { BeforeApplicationShutdown } from '@nestjs/common';
import { Inject, Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { StreamItem } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import type { ClientClaims } from '../auth/token.service';
import type { TransportLabel } from '../observability/metrics.service';
import { MetricsService } from '../observability/metrics.service';
import type { ClientSelection, SelectionRequest } from './client-selection';
import { selectClientEvents } from './client-selection';
import type { DeliveryMeter, DeliverySink } from './delivery-sink';
import { Delivery } from './delivery-sink';
import { pacedReplay } from './paced-replay';

/** What a web transport sends: stream items, plus a last item when the token expires. */
export type DeliveryItem = StreamItem | { kind: 'expired' };

/** setTimeout fires at once past this (about 24.8 days); longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The one place web transports get their events from: validates the
 * selection, replays from the resume position, continues live, ends the
 * stream with an `expired` item when the client's token runs out, and
 * bounds what each connection may leave unread (`SEND_BUFFER_LIMIT`).
 */
@Injectable()
export class DeliveryStreamService implements BeforeApplicationShutdown {
  private readonly open = new Set<Delivery>();
  private readonly meter: DeliveryMeter;
  private goingAway: Promise<void> | undefined;

  constructor(
    private readonly bus: EventBusService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.meter = transportMeter(metrics);
  }

  select(req: SelectionRequest, claims: ClientClaims | undefined): ClientSelection {
    return selectClientEvents(req, claims, this.config.mqtt.topicPrefix);
  }

  /** Starts sending the selection's events to one connection; the caller closes it when the client leaves. */
  deliver(selection: ClientSelection, sink: DeliverySink): Delivery {
    const delivery = new Delivery(
      this.items(selection, () => sink.bufferedBytes()),
      sink,
      this.config.delivery.sendBufferBytes,
      this.meter,
      (ended) => this.open.delete(ended),
      selection.lastEventId,
    );
    if (!delivery.isEnded) this.open.add(delivery);
    return delivery;
  }

  /** Counts one open connection of a transport until the returned function is called (once or more). */
  track(transport: TransportLabel): () => void {
    const gauge = this.metrics.connections.labels(transport);
    gauge.inc();
    let open = true;
    return () => {
      if (open) gauge.dec();
      open = false;
    };
  }

  /**
   * Shutdown: every event committed so far reaches the clients first, then
   * each stream ends with `going_away` (its client resumes elsewhere or
   * after the restart). Runs before the HTTP server stops waiting for open
   * responses, which would otherwise hold it open.
   */
  beforeApplicationShutdown(): Promise<void> {
    return this.goAway();
  }

  /** Ends every stream with `going_away` once all committed events are out; the same promise for every caller. */
  goAway(): Promise<void> {
    this.goingAway ??= this.bus.drain().then(() => {
      for (const delivery of [...this.open]) delivery.finish('going_away');
    });
    return this.goingAway;
  }

  /**
   * The selection's events. Completes without `expired` when the bus
   * completes (shutdown): only the expiry timer says the token ran out.
   * Given the connection's backlog, a resume catches up at the client's pace.
   */
  items(selection: ClientSelection, backlog?: () => number): Observable<DeliveryItem> {
    const items =
      backlog !== undefined && selection.lastEventId !== undefined
        ? pacedReplay(this.bus, selection.filter, selection.lastEventId, backlog, this.config.delivery.sendBufferBytes)
        : this.bus.stream(selection.filter, selection.lastEventId);
    const expiresAtMs = selection.expiresAtMs;
    if (expiresAtMs === undefined) return items;
    return new Observable<DeliveryItem>((subscriber) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        const left = expiresAtMs - Date.now();
        if (left > MAX_TIMER_MS) {
          timer = setTimeout(arm, MAX_TIMER_MS);
          return;
        }
        timer = setTimeout(
          () => {
            inner.unsubscribe();
            subscriber.next({ kind: 'expired' });
            subscriber.complete();
          },
          Math.max(0, left),
        );
      };
      // An observer of its own: handing `subscriber` over would make `inner` the same subscription.
      const inner = items.subscribe({
        next: (item) => subscriber.next(item),
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      if (!subscriber.closed) arm();
      return () => {
        clearTimeout(timer);
        inner.unsubscribe();
      };
    });
  }
}

/**
 * Counts per send, but times each event once per transport (not once per
 * connection): fan-out to a thousand sockets costs a thousand increments
 * and one histogram sample. Label lookups are resolved once per transport.
 */
function transportMeter(metrics: MetricsService): DeliveryMeter {
  const perTransport = new Map<
    TransportLabel,
    { sent: { inc(): void }; latency: { observe(s: number): void }; bit: number }
  >();
  const of = (transport: TransportLabel) => {
    let entry = perTransport.get(transport);
    if (entry === undefined) {
      entry = {
        sent: metrics.eventsDelivered.labels(transport),
        latency: metrics.ingestToSendSeconds.labels(transport),
        bit: 1 << perTransport.size,
      };
      perTransport.set(transport, entry);
    }
    return entry;
  };
  return {
    sent(transport, encoded) {
      const entry = of(transport);
      entry.sent.inc();
      if (!encoded.firstSendOn(entry.bit)) return;
      entry.latency.observe((Date.now() - Date.parse(encoded.event.received_at)) / 1000);
    },
    slowConsumer(transport) {
      metrics.slowConsumerDisconnects.inc({ transport });
    },
  };
}

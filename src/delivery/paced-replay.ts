import { Observable } from 'rxjs';
import type { EventFilter, StreamItem } from '../bus/device-event';
import type { EventBusService } from '../bus/event-bus.service';

/** Events per log read while a client catches up. */
export const CATCH_UP_PAGE = 500;
/** How often a catching-up client's backlog is looked at while it drains. */
const DRAIN_POLL_MS = 10;

/**
 * A resume that is far behind, paced by the client (issue #3, "Slow
 * consumers"): the log is read a page at a time, and the next page waits
 * until the connection has sent most of the previous one (`backlog()` below
 * half of `limit`). So a client catching up on hours of events is never cut
 * off as a slow consumer for reading at its own speed, and holds at most one
 * page unsent. Once a page comes back short the stream goes on as
 * `bus.stream` from there: the last few events, then live.
 */
export function pacedReplay(
  bus: EventBusService,
  filter: EventFilter,
  afterId: string,
  backlog: () => number,
  limit: number,
): Observable<StreamItem> {
  return new Observable<StreamItem>((subscriber) => {
    let stopped = false;
    let live: { unsubscribe(): void } | undefined;
    const run = async (): Promise<void> => {
      let after = afterId;
      for (;;) {
        const page = await bus.readPage(filter, after, CATCH_UP_PAGE);
        if (stopped) return;
        if (page.reset) subscriber.next({ kind: 'reset', ...page.reset });
        for (const event of page.events) subscriber.next({ kind: 'event', event });
        after = page.cursor;
        if (!page.more) break;
        while (!stopped && backlog() > limit / 2) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
        if (stopped) return;
      }
      live = bus.stream(filter, after).subscribe({
        next: (item) => subscriber.next(item),
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    };
    run().catch((err: unknown) => subscriber.error(err));
    return () => {
      stopped = true;
      live?.unsubscribe();
    };
  });
}

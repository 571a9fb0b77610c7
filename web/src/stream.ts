import type { DeviceEvent } from './types';

/** Where the live stream stands; the page shows a banner for every state but `live`. */
export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'expired';

export interface StreamHandlers {
  event(event: DeviceEvent): void;
  state(state: StreamState): void;
  /** The position asked for is older than the log keeps: some events were not replayed (bridge.md, `event: reset`). */
  reset(): void;
  /** The service refused the stream itself (not SSE: a 401, say); the page may want to know why. */
  refused(): void;
}

/**
 * Event names the stream carries; EventSource only hands over events it has
 * a listener for, so broadcasts under names of their own are not seen here.
 */
const EVENT_NAMES = ['data', 'status', 'command', 'command_response', 'message'];
/**
 * The server's last words before it ends a stream (README, "How streams
 * end"). All but `token_expired` mean: come back from the last id, which
 * EventSource does by itself after the `retry:` the stream set (1 s).
 */
const RESUMABLE_ENDINGS = ['going_away', 'slow_consumer', 'internal_error'];
/** Ids remembered to drop an event delivered twice across a reconnect. */
const SEEN_LIMIT = 10_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

/**
 * The service's own SSE stream (`/iot/stream/_all/`), used the way any web
 * client would. The browser's EventSource reconnects by itself and sends
 * `Last-Event-ID`; when it gives up (a non-SSE answer, say while the service
 * restarts behind a proxy) a new one resumes with `last_event_id=` from the
 * last id seen. Ids already seen are dropped, so nothing is shown twice.
 */
export class LiveStream {
  private source: EventSource | undefined;
  private lastId: string | undefined;
  private readonly seen = new Set<string>();
  private retryMs = RETRY_MIN_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly token: string | undefined,
    private readonly on: StreamHandlers,
  ) {}

  open(): void {
    this.stopped = false;
    const params = new URLSearchParams();
    if (this.token) params.set('token', this.token);
    if (this.lastId !== undefined) params.set('last_event_id', this.lastId);
    const query = params.toString();
    const source = new EventSource(query ? `${this.path}?${query}` : this.path);
    this.source = source;
    this.on.state(this.lastId === undefined ? 'connecting' : 'reconnecting');
    // `connected` is the stream's first frame: the service has subscribed this client.
    source.addEventListener('connected', () => {
      this.retryMs = RETRY_MIN_MS;
      this.on.state('live');
    });
    source.addEventListener('error', () => {
      if (this.source !== source || this.stopped) return;
      if (source.readyState === EventSource.CLOSED) {
        this.on.refused();
        this.retryLater();
      } else this.on.state('reconnecting');
    });
    for (const name of EVENT_NAMES) source.addEventListener(name, (e: MessageEvent<unknown>) => this.receive(e));
    source.addEventListener('reset', (e: MessageEvent<unknown>) => {
      // The reset notice's id is the new position: resuming from the old one would ask for the same gap again.
      if (e.lastEventId) this.lastId = e.lastEventId;
      this.on.reset();
    });
    for (const name of RESUMABLE_ENDINGS) {
      source.addEventListener(name, () => {
        if (this.source === source) this.on.state('reconnecting');
      });
    }
    source.addEventListener('token_expired', () => {
      this.close();
      this.on.state('expired');
    });
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = undefined;
  }

  /** The id of the last event received: where a new connection resumes. */
  get position(): string | undefined {
    return this.lastId;
  }

  private receive(e: MessageEvent<unknown>): void {
    let event: DeviceEvent;
    try {
      event = JSON.parse(String(e.data)) as DeviceEvent;
    } catch {
      return;
    }
    const id = e.lastEventId || event.id;
    if (id) {
      if (this.seen.has(id)) return;
      this.seen.add(id);
      if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
      this.lastId = id;
    }
    this.on.event(event);
  }

  private retryLater(): void {
    this.source?.close();
    this.source = undefined;
    this.on.state('reconnecting');
    clearTimeout(this.retryTimer);
    const delay = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, delay);
  }
}

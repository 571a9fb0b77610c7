import { io } from 'socket.io-client';
import type { TestApp } from './app';
import { openSse } from './sse-client';
import { waitFor } from './wait';
import type { WireEvent } from './web-clients';
import { openWs, wsUrl } from './web-clients';

/** What a client asks for, on any transport (bridge.md, "Web delivery"). */
export interface Subscription {
  deviceType: string;
  deviceId?: string;
  eventTypes?: string[];
  lastEventId?: string;
  token: string;
}

/** A reset notice: the asked position is gone, events continue after `last_event_id`. */
export interface ResetNotice {
  requested: string;
  last_event_id: string;
}

/** One client of one transport, as the shared contract sees it. */
export interface ContractClient {
  /** Device events received, in order. */
  events(): WireEvent[];
  resets(): ResetNotice[];
  /** Resolves with the reason the server gave when it ended the stream (`token_expired`, …). */
  ended: Promise<string>;
  close(): void;
}

/** A web transport, opened the way its users open it. */
export interface Transport {
  name: string;
  open(app: TestApp, sub: Subscription): Promise<ContractClient>;
  /** The error code a connection with this token is refused with (undefined when it is accepted). */
  refusal(app: TestApp, sub: Subscription): Promise<string | undefined>;
}

const END_REASONS = new Set(['token_expired', 'slow_consumer', 'going_away', 'internal_error']);

/** bridge.md's close code for each way the raw WebSocket stream ends. */
const WS_CLOSE_CODES: Record<string, number> = {
  token_expired: 4002,
  slow_consumer: 4008,
  going_away: 1001,
  internal_error: 1011,
};

const path = (sub: Subscription): string => `${sub.deviceType}/${sub.deviceId === undefined ? '' : `${sub.deviceId}/`}`;

function query(sub: Subscription, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({ token: sub.token, ...extra });
  for (const type of sub.eventTypes ?? []) params.append('event_types', type);
  if (sub.lastEventId !== undefined) params.set('last_event_id', sub.lastEventId);
  return params.toString();
}

const isEvent = (frame: Record<string, unknown>): boolean => typeof frame.id === 'string' && frame.reset !== true;

export const rawWebSocket: Transport = {
  name: 'raw WebSocket',
  async open(app, sub) {
    const client = await openWs(wsUrl(app, `/ws/iot/${path(sub)}?${query(sub)}`));
    // The last frame names the reason, and the close code must be that reason's (WsCloseCode).
    const ended = client.closed.then(({ code }) => {
      const last = client.frames[client.frames.length - 1];
      const reason = typeof last?.error === 'string' ? last.error : '';
      return WS_CLOSE_CODES[reason] === code ? reason : `closed with ${code}`;
    });
    return {
      events: () => client.frames.filter(isEvent) as unknown as WireEvent[],
      resets: () => client.frames.filter((f) => f.event === 'reset') as unknown as ResetNotice[],
      ended,
      close: () => client.close(),
    };
  },
  async refusal(app, sub) {
    const client = await openWs(wsUrl(app, `/ws/iot/${path(sub)}?${query(sub)}`));
    const { code, reason } = await client.closed;
    // 4403 says why in its reason text ("jwt expired" → token_expired); see WsCloseCode.
    return code === 4403 ? (/expired/.test(reason) ? 'token_expired' : 'invalid_token') : undefined;
  },
};

export const socketIo: Transport = {
  name: 'socket.io',
  async open(app, sub) {
    const socket = io(`${app.url}/iot`, {
      auth: { token: sub.token },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    const received: [string, Record<string, unknown>][] = [];
    let end: (reason: string) => void = () => undefined;
    const ended = new Promise<string>((resolve) => (end = resolve));
    socket.onAny((name: string, payload: Record<string, unknown>) => {
      received.push([name, payload]);
      if (END_REASONS.has(name)) end(name);
    });
    socket.on('disconnect', () => end('closed'));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const ack = (await socket.timeout(5000).emitWithAck('subscribe', {
      device_type: sub.deviceType,
      ...(sub.deviceId !== undefined ? { device_id: sub.deviceId } : {}),
      ...(sub.eventTypes !== undefined ? { event_types: sub.eventTypes } : {}),
      ...(sub.lastEventId !== undefined ? { last_event_id: sub.lastEventId } : {}),
    })) as unknown;
    expect(ack).toEqual({ ok: true });
    return {
      events: () => received.filter(([, p]) => isEvent(p)).map(([, p]) => p as unknown as WireEvent),
      resets: () => received.filter(([name]) => name === 'reset').map(([, p]) => p as unknown as ResetNotice),
      ended,
      close: () => socket.disconnect(),
    };
  },
  async refusal(app, sub) {
    const socket = io(`${app.url}/iot`, { auth: { token: sub.token }, reconnection: false, forceNew: true });
    try {
      return await new Promise<string | undefined>((resolve) => {
        socket.once('connect', () => resolve(undefined));
        socket.once('connect_error', (err: Error & { data?: { error?: string } }) => resolve(err.data?.error));
      });
    } finally {
      socket.disconnect();
    }
  },
};

export const sse: Transport = {
  name: 'SSE',
  async open(app, sub) {
    const stream = await openSse(`${app.url}/iot/stream/${path(sub)}?${query(sub)}`);
    const data = (name: string): Record<string, unknown>[] =>
      stream.messages.filter((m) => m.event === name).map((m) => JSON.parse(m.data) as Record<string, unknown>);
    const ended = stream.closed.then(() => {
      const last = stream.messages[stream.messages.length - 1];
      return last !== undefined && END_REASONS.has(last.event) ? last.event : 'closed';
    });
    return {
      events: () => stream.events() as unknown as WireEvent[],
      resets: () => data('reset') as unknown as ResetNotice[],
      ended,
      close: () => stream.close(),
    };
  },
  async refusal(app, sub) {
    const res = await fetch(`${app.url}/iot/stream/${path(sub)}?${query(sub)}`);
    if (res.status === 200) {
      await res.body?.cancel();
      return undefined;
    }
    return ((await res.json()) as { error: string }).error;
  },
};

interface PollAnswer {
  events: WireEvent[];
  cursor: string;
  reset?: true;
  requested?: string;
  error?: string;
}

/** Polling: long polls one after another from a cursor (`0`, the start of the log, when none is given). */
export const poll: Transport = {
  name: 'polling',
  // eslint-disable-next-line @typescript-eslint/require-await
  async open(app, sub) {
    const events: WireEvent[] = [];
    const resets: ResetNotice[] = [];
    let open = true;
    const ended = (async (): Promise<string> => {
      let cursor = sub.lastEventId ?? '0';
      while (open) {
        const res = await fetch(
          `${app.url}/iot/poll/${path(sub)}?${query({ ...sub, lastEventId: undefined }, { cursor, wait: '1' })}`,
        );
        const answer = (await res.json()) as PollAnswer;
        if (res.status !== 200) return answer.error ?? String(res.status);
        if (answer.reset) resets.push({ requested: answer.requested ?? '', last_event_id: answer.cursor });
        events.push(...answer.events);
        cursor = answer.cursor;
      }
      return 'closed';
    })().catch(() => 'closed');
    return { events: () => events, resets: () => resets, ended, close: () => (open = false) };
  },
  async refusal(app, sub) {
    const res = await fetch(`${app.url}/iot/poll/${path(sub)}?${query(sub)}`);
    return res.status === 200 ? undefined : ((await res.json()) as { error: string }).error;
  },
};

export const TRANSPORTS: Transport[] = [rawWebSocket, socketIo, sse, poll];

/** Waits until the client has `count` events, and returns them. */
export function eventsOf(client: ContractClient, count: number, what: string): Promise<WireEvent[]> {
  return waitFor(() => (client.events().length >= count ? client.events() : undefined), what, 10_000);
}

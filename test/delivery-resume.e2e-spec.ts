import { EventSource } from 'eventsource';
import type { Socket } from 'socket.io-client';
import { io } from 'socket.io-client';
import { freePort } from './cluster/cluster-harness';
import type { TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import type { Storage } from './support/app';
import { openSse } from './support/sse-client';
import { waitFor } from './support/wait';
import type { WireEvent } from './support/web-clients';
import { clientToken, connectDevice, numbersOf, openWs, publishNumbers, range, wsUrl } from './support/web-clients';

/** Opens a socket.io subscription and collects its events. */
async function socketIoFrom(
  app: TestApp,
  token: string,
  sub: Record<string, unknown>,
): Promise<{ socket: Socket; events: WireEvent[] }> {
  const socket = io(`${app.url}/iot`, {
    auth: { token },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  const events: WireEvent[] = [];
  socket.on('data', (e: WireEvent) => events.push(e));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const ack = (await socket.timeout(5000).emitWithAck('subscribe', sub)) as unknown;
  expect(ack).toEqual({ ok: true });
  return { socket, events };
}

async function pollAfter(
  app: TestApp,
  token: string,
  path: string,
  cursor: string,
): Promise<{ events: WireEvent[]; reset?: true; cursor: string }> {
  const res = await fetch(`${app.url}/iot/poll/${path}?cursor=${cursor}&limit=1000`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { events: WireEvent[]; reset?: true; cursor: string };
}

/**
 * One position for every transport (issue #3, "One position, no silent
 * gap"): an id from one transport resumes on any other, also after the
 * service restarts. (A position older than the log keeps: the shared
 * contract, delivery-contract.e2e-spec.ts.)
 */
describe('resume positions', () => {
  it('resumes on SSE, polling and socket.io from an id received on the WebSocket, each exactly once and in order', async () => {
    const app = await bootApp();
    const token = clientToken(app);
    const device = await connectDevice(app, 'cross');
    try {
      const ws = await openWs(wsUrl(app, `/ws/iot/cross/?token=${token}`));
      const numbers = range(1, 12);
      await publishNumbers(app, device, 'cross', 'c-1', numbers.slice(0, 4));
      const seen = await ws.waitForEvents(4);
      ws.close();
      const position = seen[3].id;
      await publishNumbers(app, device, 'cross', 'c-1', numbers.slice(4, 8));
      const sse = await openSse(`${app.url}/iot/stream/cross/?token=${token}&last_event_id=${position}`);
      const sio = await socketIoFrom(app, token, { device_type: 'cross', last_event_id: position });
      await publishNumbers(app, device, 'cross', 'c-1', numbers.slice(8));
      await waitFor(() => (sse.events().length >= 8 ? true : undefined), 'SSE catch-up then live');
      await waitFor(() => (sio.events.length >= 8 ? true : undefined), 'socket.io catch-up then live');
      const polled = await pollAfter(app, token, 'cross/', position);
      const expected = numbers.slice(4);
      expect(numbersOf(sse.events())).toEqual(expected);
      expect(numbersOf(sio.events)).toEqual(expected);
      expect(numbersOf(polled.events)).toEqual(expected);
      // The same ids everywhere: one position.
      expect(sio.events.map((e) => e.id)).toEqual(sse.events().map((e) => e.id));
      expect(polled.events.map((e) => e.id)).toEqual(sse.events().map((e) => e.id));
      sse.close();
      sio.socket.disconnect();
    } finally {
      await device.endAsync();
      await app.stop();
    }
  });

  describe('across a restart', () => {
    let storage: Storage;
    beforeAll(async () => {
      storage = await freshStorage();
    });
    afterAll(() => storage.dispose());

    it('resumes every transport from positions given before the restart, and an EventSource reconnects by itself', async () => {
      const port = await freePort();
      const env = {
        PORT: String(port),
        JWT_SECRET: 'restart-secret-0123456789abcdef',
        ADMIN_TOKEN: 'restart-admin-0123456789',
      };
      const before = await bootApp(env, storage);
      const token = clientToken(before, { expiresInSec: 600 });
      const source = new EventSource(`${before.url}/iot/stream/restart/?token=${token}`);
      const live: { id: string; n: number }[] = [];
      source.addEventListener('data', (e) =>
        live.push({ id: e.lastEventId, n: (JSON.parse(e.data) as WireEvent).data.n as number }),
      );
      await new Promise<void>((resolve) => source.addEventListener('connected', () => resolve()));
      let device = await connectDevice(before, 'restart');
      const numbers = range(1, 10);
      await publishNumbers(before, device, 'restart', 'r-1', numbers.slice(0, 5));
      await waitFor(() => (live.length >= 5 ? true : undefined), 'events before the restart');
      await device.endAsync();
      await before.stop();

      const after = await bootApp(env, storage);
      try {
        device = await connectDevice(after, 'restart');
        await publishNumbers(after, device, 'restart', 'r-1', numbers.slice(5));
        await device.endAsync();
        // EventSource saw `going_away`, reconnected with Last-Event-ID on its own, and lost nothing.
        await waitFor(
          () => (live.length >= 10 ? true : undefined),
          'the EventSource to catch up after the restart',
          15_000,
        );
        expect(live.map((e) => e.n)).toEqual(numbers);
        const position = live[2].id;
        const ws = await openWs(wsUrl(after, `/ws/iot/restart/?token=${token}&last_event_id=${position}`));
        await ws.waitForEvents(7);
        expect(numbersOf(ws.events())).toEqual(numbers.slice(3));
        expect(numbersOf((await pollAfter(after, token, 'restart/', position)).events)).toEqual(numbers.slice(3));
        ws.close();
      } finally {
        source.close();
        await after.stop();
      }
    });
  });
});

import type { Socket } from 'socket.io-client';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { waitFor } from './support/wait';
import type { WireEvent } from './support/web-clients';
import { wsUrl } from './support/web-clients';

const EVIL = 'https://evil.example';
const ALLOWED = 'https://app.example';

/**
 * Cross-site WebSocket hijacking (issue #18, item 6): a page of another
 * origin may not open `/ws/iot/…` or socket.io `/iot` on the strength of the
 * browser's `token` cookie, unless ALLOWED_ORIGINS lists it. The bridge's
 * own origin, and tokens a page puts in the query, a header or the socket.io
 * handshake, are not affected.
 */
describe('Origin check on WebSocket and socket.io handshakes', () => {
  let app: TestApp;
  let cookie: string;
  let ownOrigin: string;
  const sockets: Socket[] = [];
  const websockets: WebSocket[] = [];

  beforeAll(async () => {
    app = await bootApp({ ALLOWED_ORIGINS: `${ALLOWED}, http://localhost:5173` });
    cookie = `theme=dark; token=${encodeURIComponent(app.clientToken)}`;
    ownOrigin = app.url;
  });
  afterAll(async () => {
    sockets.forEach((s) => s.disconnect());
    websockets.forEach((ws) => ws.terminate());
    await app.stop();
  });

  const broadcast = async (n: number): Promise<void> => {
    const res = await fetch(`${app.url}/admin/broadcast`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${app.adminToken}` },
      body: JSON.stringify({ device_type: 'origin', device_id: 'o-1', event_type: 'data', data: { n } }),
    });
    expect(res.status).toBe(200);
  };

  /** A raw WebSocket: open with the events it gets, or the HTTP answer it was refused with. */
  const openWs = (
    path: string,
    headers: Record<string, string>,
  ): Promise<{ events: WireEvent[] } | { status: number; body: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl(app, path), { headers });
      websockets.push(ws);
      const events: WireEvent[] = [];
      ws.on('message', (data: Buffer) => events.push(JSON.parse(data.toString()) as WireEvent));
      ws.once('open', () => resolve({ events }));
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
        );
      });
      ws.once('error', reject);
    });

  /** socket.io over the given transport: connected and subscribed, or the connect_error. */
  const openIo = async (
    transport: 'websocket' | 'polling',
    headers: Record<string, string>,
    auth: Record<string, unknown> = {},
  ): Promise<{ events: WireEvent[] } | { error: { message: string; data?: unknown } }> => {
    const socket = io(`${app.url}/iot`, {
      transports: [transport],
      extraHeaders: headers,
      auth,
      reconnection: false,
      forceNew: true,
    });
    sockets.push(socket);
    const events: WireEvent[] = [];
    socket.on('data', (event: WireEvent) => events.push(event));
    const error = await new Promise<{ message: string; data?: unknown } | undefined>((resolve) => {
      socket.once('connect', () => resolve(undefined));
      socket.once('connect_error', (err: Error & { data?: unknown }) =>
        resolve({ message: err.message, data: err.data }),
      );
    });
    if (error) return { error };
    expect(await socket.timeout(5000).emitWithAck('subscribe', { device_type: 'origin' })).toEqual({ ok: true });
    return { events };
  };

  it('answers a cross-origin raw WebSocket that authenticates by cookie with 403 and the reason', async () => {
    for (const origin of [EVIL, 'null', `${ALLOWED}:8443`]) {
      const refused = await openWs('/ws/iot/origin/', { Cookie: cookie, Origin: origin });
      expect(refused).toEqual({
        status: 403,
        body: {
          error: 'origin_not_allowed',
          message: expect.stringMatching(
            /^origin .* may not connect with the token cookie: list it in ALLOWED_ORIGINS/,
          ),
        },
      });
    }
  });

  it('refuses a cross-origin socket.io handshake that authenticates by cookie, on both engine transports', async () => {
    for (const transport of ['websocket', 'polling'] as const) {
      const refused = await openIo(transport, { Cookie: cookie, Origin: EVIL });
      expect(refused).toEqual({
        error: {
          message: expect.stringContaining(`origin ${EVIL} may not connect with the token cookie`),
          data: { error: 'origin_not_allowed' },
        },
      });
    }
  });

  it('serves the own origin, listed origins, clients without Origin, and tokens not taken from the cookie', async () => {
    const { port } = new URL(app.url);
    const admitted = [
      await openWs('/ws/iot/origin/', { Cookie: cookie, Origin: ownOrigin }),
      await openWs('/ws/iot/origin/', {
        Cookie: cookie,
        Origin: `http://LOCALHOST:${port}`,
        Host: `localhost:${port}`,
      }),
      await openWs('/ws/iot/origin/', { Cookie: cookie, Origin: ALLOWED }),
      await openWs('/ws/iot/origin/', { Cookie: cookie, Origin: 'http://localhost:5173' }),
      await openWs('/ws/iot/origin/', { Cookie: cookie }),
      await openWs(`/ws/iot/origin/?token=${app.clientToken}`, { Cookie: 'token=stale', Origin: EVIL }),
      await openWs('/ws/iot/origin/', { Authorization: `Bearer ${app.clientToken}`, Origin: EVIL }),
      await openIo('websocket', { Cookie: cookie, Origin: ownOrigin }),
      await openIo('polling', { Cookie: cookie, Origin: ALLOWED }),
      await openIo('websocket', { Origin: EVIL }, { token: app.clientToken }),
    ];
    await broadcast(1);
    for (const [i, client] of admitted.entries()) {
      expect({ i, client }).toEqual({ i, client: { events: expect.any(Array) } });
      const { events } = client as { events: WireEvent[] };
      await waitFor(() => (events.some((e) => e.data?.n === 1) ? true : undefined), `client ${i} to get the event`);
    }
  });
});

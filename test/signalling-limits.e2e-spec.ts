import type { SignallingConnectError } from '@metered-ca/realtime';
import type { TestApp } from './support/app';
import { Inbox, adminFetch, mint, rejection, sdkSuite } from './fixtures/signalling/clients';

const ALL = ['subscribe', 'publish', 'presence', 'send'];
const KEYS = {
  pk_test_one: { channels: ['**'], maxConnections: 1 },
  pk_test_quota: { channels: ['**'], permissions: ALL, maxMessagesPerPeriod: 3 },
};

/**
 * The limits of signalling-protocol.md ("Close codes", `over_message_quota`),
 * and keepalive, as the official SDK meets them: what it is told, and whether
 * it reconnects.
 */
describe('signalling limits with the official SDK', () => {
  const suite = sdkSuite(KEYS);
  const { peer, connected } = suite;
  let app: TestApp;
  beforeAll(() => {
    app = suite.app;
  });

  it('closes the connection over a key limit with 4010', async () => {
    const first = peer({ apiKey: 'pk_test_one' });
    await first.client.connect();
    const err = await rejection(peer({ apiKey: 'pk_test_one' }).client.connect());
    expect((err as SignallingConnectError).closeCode).toBe(4010);
    // The first connection is unaffected.
    await first.client.subscribe('still/here');
  });

  it('closes with 4002 just before the token expires, and the SDK reconnects with a fresh token', async () => {
    let minted = 0;
    const p = peer({
      tokenProvider: () => Promise.resolve(mint(app, { peerId: 'short', expiresInSec: minted++ === 0 ? 3 : 600 })),
    });
    await p.client.connect();
    const { expiresAt } = await p.events.connected.next(() => true, 'welcome');
    const closed = await p.events.disconnected.next(() => true, 'disconnect at token expiry', 5000);
    // Closed while the token was still valid: the client never sits on a session it may no longer hold.
    expect(Date.now()).toBeLessThan((expiresAt as number) * 1000);
    expect(closed).toMatchObject({ code: 4002, willReconnect: true });
    await p.events.connected.next((c) => c.isReconnect, 'reconnect with a fresh token');
    expect(minted).toBe(2);
  });

  it('closes a flooding client with 4011 and the SDK reconnects', async () => {
    const p = await connected('flooder');
    const sends = Array.from({ length: 300 }, (_, i) => p.client.publish('flood', i).catch((err: Error) => err));
    expect(await p.events.disconnected.next(() => true, 'rate close')).toMatchObject({
      code: 4011,
      willReconnect: true,
    });
    const outcomes = await Promise.all(sends);
    expect(outcomes.filter((o) => o instanceof Error).length).toBeGreaterThan(0);
    await p.events.connected.next((c) => c.isReconnect, 'reconnected after 4011');
  });

  it('disconnects a peer for good with 4020 from DELETE /v1/peers/{id}', async () => {
    const p = await connected('kicked');
    const res = await adminFetch(app, 'DELETE', '/v1/peers/kicked');
    expect(res).toEqual({ status: 200, body: { peerId: 'kicked', disconnected: 1 } });
    expect(await p.events.disconnected.next(() => true, 'kick')).toMatchObject({ code: 4020, willReconnect: false });
    expect(p.client.state).toBe('closed');
    expect((await adminFetch(app, 'DELETE', '/v1/peers/kicked')).status).toBe(404);
  });

  it("answers over_message_quota once a key's quota is spent, and keeps its connections open", async () => {
    const watcher = await connected('quota-watcher');
    await watcher.client.subscribe('metered');
    const a = peer({ apiKey: 'pk_test_quota' });
    const b = peer({ apiKey: 'pk_test_quota' });
    await Promise.all([a.client.connect(), b.client.connect()]);

    await a.client.publish('metered', 1);
    await a.client.send('quota-watcher', 2);
    await b.client.publish('metered', 3);
    // The quota belongs to the key: both of its connections have spent it.
    expect((await rejection(a.client.publish('metered', 4))).name).toBe('over_message_quota');
    expect((await rejection(b.client.send('quota-watcher', 5))).name).toBe('over_message_quota');
    await b.client.subscribe('still-open');
    expect([a.client.state, b.client.state]).toEqual(['connected', 'connected']);

    await watcher.events.message.next((m) => m.data === 3, 'the last message within the quota');
    expect(watcher.events.message.items.map((m) => m.data)).toEqual([1, 3]);
    expect(watcher.events.direct.items.map((d) => d.data)).toEqual([2]);
    // Tokens belong to no key, so no quota.
    const other = await connected('quota-free');
    for (let i = 0; i < 5; i++) await other.client.publish('metered', `free-${i}`);
  });

  it('answers the SDK keepalive ping with pong', async () => {
    const p = peer({ token: mint(app, { peerId: 'idle' }) }, { inactivityTimeoutMs: 3000 });
    await p.client.connect();
    const received = new Inbox<string>();
    p.sockets[0].on('message', (data: Buffer) =>
      received.push((JSON.parse(data.toString('utf8')) as { type: string }).type),
    );
    // Idle, the SDK pings every second and drops the link when nothing comes back within 3 s.
    await received.next(
      (type) => type === 'pong' && received.items.filter((t) => t === 'pong').length >= 3,
      'three pongs',
      6000,
    );
    expect(p.client.state).toBe('connected');
    expect(p.events.disconnected.items).toEqual([]);
  });
});

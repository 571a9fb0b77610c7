import { SignallingConnectError } from '@metered-ca/realtime';
import type { TestApp } from './support/app';
import { waitFor } from './support/wait';
import type { SdkPeer } from './fixtures/signalling/clients';
import { adminFetch, mint, rejection, sdkSuite } from './fixtures/signalling/clients';

const KEYS = {
  pk_test_open: { channels: ['room-*', 'chat/**'], permissions: ['subscribe', 'publish', 'presence', 'send'] },
  pk_test_site: {
    channels: ['**'],
    origins: ['https://app.example.com'],
    metadata: { iceServers: [{ urls: 'stun:stun.example.com:3478' }] },
  },
  pk_test_off: { channels: ['**'], disabled: true },
};

/** The official `@metered-ca/realtime` SignallingClient against the bridge (issue #4, "Tests"). */
describe('signalling with the official SDK', () => {
  const suite = sdkSuite(KEYS);
  const { peer, connected } = suite;
  let app: TestApp;
  beforeAll(() => {
    app = suite.app;
  });

  describe('connecting', () => {
    it('gets a welcome with the peer id, token expiry and message size', async () => {
      const token = mint(app, { peerId: 'alice', expiresInSec: 600 });
      const p = peer({ token });
      await p.client.connect();
      const welcome = await p.events.connected.next(() => true, 'connected');
      const now = Date.now() / 1000;
      expect(welcome).toMatchObject({ peerId: 'alice', maxMessageSize: 65536, isReconnect: false });
      expect(welcome.expiresAt).toBeGreaterThanOrEqual(Math.floor(now) + 599);
      expect(Math.abs(welcome.serverTime - now)).toBeLessThan(5);
    });

    it('gives a publishable key a random peer id, no expiry, and the key metadata', async () => {
      const p = peer({ apiKey: 'pk_test_site' }, { origin: 'https://app.example.com' });
      await p.client.connect();
      const welcome = await p.events.connected.next(() => true, 'connected');
      expect(welcome.peerId).toMatch(/^[0-9a-f-]{36}$/);
      expect(welcome.expiresAt).toBeNull();
      expect(welcome.iceServers).toEqual([{ urls: 'stun:stun.example.com:3478' }]);
    });

    it.each([
      [
        'a token signed with another secret',
        4001,
        { token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.c2lnbmF0dXJl' },
      ],
      ['an unknown key', 4001, { apiKey: 'pk_test_nope' }],
      ['a key used from an origin it does not allow', 4001, { apiKey: 'pk_test_site' }],
      ['a disabled key', 4012, { apiKey: 'pk_test_off' }],
    ] as const)('refuses %s before the welcome with %i', async (_what, code, credential) => {
      const p = peer(credential, { origin: 'https://evil.example.com' });
      const err = await rejection(p.client.connect());
      expect(err).toBeInstanceOf(SignallingConnectError);
      expect((err as SignallingConnectError).closeCode).toBe(code);
      expect(p.events.connected.items).toEqual([]);
    });

    it('refuses an expired token with 4002 and a token with no usable channel with 4003', async () => {
      const expired = await rejection(
        peer({ token: mint(app, { peerId: 'late', expiresInSec: -10 }) }).client.connect(),
      );
      expect((expired as SignallingConnectError).closeCode).toBe(4002);
      const noChannels = await rejection(
        peer({ token: mint(app, { peerId: 'nowhere', channels: [] }) }).client.connect(),
      );
      expect((noChannels as SignallingConnectError).closeCode).toBe(4003);
      const longSub = await rejection(peer({ token: mint(app, { peerId: 'x'.repeat(129) }) }).client.connect());
      expect((longSub as SignallingConnectError).closeCode).toBe(4001);
    });
  });

  describe('presence', () => {
    it('sends the roster after each subscribe, even empty, then joined and left deltas', async () => {
      const alice = await connected('alice', { peerMetadata: { name: 'Alice' } });
      await alice.client.subscribe('room-1');
      expect(await alice.events.presence.next((e) => e.channel === 'room-1', 'alice roster')).toEqual({
        channel: 'room-1',
        joined: [],
        left: [],
      });

      const bob = await connected('bob', { peerMetadata: { name: 'Bob' } });
      await bob.client.subscribe('room-1');
      expect(await bob.events.presence.next((e) => e.channel === 'room-1', 'bob roster')).toEqual({
        channel: 'room-1',
        joined: [{ peerId: 'alice', metadata: { name: 'Alice' } }],
        left: [],
      });
      await alice.events.presence.next((e) => e.joined.some((j) => j.peerId === 'bob'), 'bob joined');
      expect(alice.events.presence.items[1]).toEqual({
        channel: 'room-1',
        joined: [{ peerId: 'bob', metadata: { name: 'Bob' } }],
        left: [],
      });

      await bob.client.unsubscribe('room-1');
      await alice.events.presence.next((e) => e.left.some((l) => l.peerId === 'bob'), 'bob left on unsubscribe');
      await bob.client.subscribe('room-1');
      await alice.events.presence.next(
        (e) => e.joined.length > 0 && alice.events.presence.items.indexOf(e) > 2,
        'bob back',
      );
      await bob.client.close();
      const left = await alice.events.presence.next(
        (e) => e.left.length > 0 && alice.events.presence.items.indexOf(e) > 3,
        'bob left on disconnect',
      );
      expect(left).toEqual({ channel: 'room-1', joined: [], left: [{ peerId: 'bob', metadata: { name: 'Bob' } }] });
    });
  });

  describe('publish', () => {
    it('delivers to exact and wildcard subscribers with the concrete channel, once, not to the publisher', async () => {
      const alice = await connected('pub-alice', { peerMetadata: { name: 'Alice' } });
      const carol = await connected('pub-carol');
      const dave = await connected('pub-dave');
      await alice.client.subscribe('fleet/**');
      await carol.client.subscribe('fleet/sensor-*/telemetry');
      await carol.client.subscribe('fleet/**');
      await dave.client.subscribe('fleet/sensor-7/telemetry', { includeSenderMetadata: true });

      await alice.client.publish('fleet/sensor-7/telemetry', { temperature: 21.5 });
      await alice.client.publish('fleet/sensor-7/status', 'ok');
      await alice.client.publish('fleet/gateway/sensor-7/telemetry', [1, 2]);
      await carol.events.message.next((m) => m.data === 'ok', 'status on fleet/**');
      await carol.events.message.next((m) => Array.isArray(m.data), 'nested channel on fleet/**');

      expect(carol.events.message.items).toEqual([
        { channel: 'fleet/sensor-7/telemetry', from: 'pub-alice', data: { temperature: 21.5 } },
        { channel: 'fleet/sensor-7/status', from: 'pub-alice', data: 'ok' },
        { channel: 'fleet/gateway/sensor-7/telemetry', from: 'pub-alice', data: [1, 2] },
      ]);
      expect(await dave.events.message.next(() => true, 'dave')).toEqual({
        channel: 'fleet/sensor-7/telemetry',
        from: 'pub-alice',
        data: { temperature: 21.5 },
        fromMetadata: { name: 'Alice' },
      });
      expect(alice.events.message.items).toEqual([]);
    });

    it('accepts data up to maxMessageSize and the SDK refuses more before sending', async () => {
      const a = await connected('big-a');
      const b = await connected('big-b');
      await b.client.subscribe('big');
      const payload = 'x'.repeat(65536 - 2);
      await a.client.publish('big', payload);
      expect((await b.events.message.next(() => true, 'big message')).data).toBe(payload);
      const err = await rejection(a.client.publish('big', payload + 'x'));
      expect(err.name).toBe('OversizedPayloadError');
    });
  });

  describe('direct', () => {
    it('reaches the peer wherever it is connected, with the sender metadata', async () => {
      const alice = await connected('dm-alice', { peerMetadata: { name: 'Alice' } });
      const bob = await connected('dm-bob');
      await alice.client.send('dm-bob', { hello: 'bob' });
      expect(await bob.events.direct.next(() => true, 'direct')).toEqual({
        from: 'dm-alice',
        data: { hello: 'bob' },
        fromMetadata: { name: 'Alice' },
      });
      const err = await rejection(alice.client.send('dm-ghost', 1));
      expect(err).toMatchObject({ name: 'peer_not_found' });
    });
  });

  describe('per-request errors keep the connection open', () => {
    it.each([
      ['channel_not_authorized', (p: SdkPeer) => p.client.subscribe('things/**')],
      ['channel_not_authorized', (p: SdkPeer) => p.client.publish('elsewhere', 1)],
      ['channel_reserved', (p: SdkPeer) => p.client.subscribe('_system/status')],
      ['invalid_channel', (p: SdkPeer) => p.client.subscribe(`room/${'€'.repeat(84)}`)],
      ['invalid_peer_id', (p: SdkPeer) => p.client.send('pérez', 1)],
    ])('%s', async (code, act) => {
      const p = await connected(`err-${code}`, { channels: ['room/**'] });
      const err = await rejection(act(p));
      expect(err.name).toBe(code);
      await p.client.subscribe('room/ok');
      expect(p.client.state).toBe('connected');
    });

    it('action_not_permitted for a permission the token lacks', async () => {
      const p = await connected('reader', { permissions: ['subscribe'] });
      expect((await rejection(p.client.publish('x', 1))).name).toBe('action_not_permitted');
      expect((await rejection(p.client.send('reader', 1))).name).toBe('action_not_permitted');
      await p.client.subscribe('x');
    });

    it('channel_limit_exceeded past 100 subscriptions', async () => {
      const p = await connected('collector');
      for (let i = 0; i < 100; i++) await p.client.subscribe(`c/${i}`);
      expect((await rejection(p.client.subscribe('c/100'))).name).toBe('channel_limit_exceeded');
      await p.client.unsubscribe('c/0');
      await p.client.subscribe('c/100');
    });
  });

  describe('reconnecting', () => {
    it('reconnects after a network drop and resubscribes on its own', async () => {
      const watcher = await connected('watcher');
      await watcher.client.subscribe('room-r');
      const bob = await connected('dropper');
      await bob.client.subscribe('room-r');
      await watcher.events.presence.next((e) => e.joined.some((j) => j.peerId === 'dropper'), 'dropper joined');

      bob.sockets[0].terminate();
      expect(await bob.events.disconnected.next(() => true, 'drop')).toMatchObject({ willReconnect: true });
      await watcher.events.presence.next((e) => e.left.some((l) => l.peerId === 'dropper'), 'dropper left');
      await bob.events.connected.next((c) => c.isReconnect, 'reconnected');
      // The replayed subscribe brings a fresh roster and tells the room.
      await bob.events.presence.next(
        (e) => e.joined.some((j) => j.peerId === 'watcher') && bob.events.presence.items.indexOf(e) > 0,
        'roster after resubscribe',
      );
      await watcher.events.presence.next(
        (e) => e.joined.some((j) => j.peerId === 'dropper') && watcher.events.presence.items.indexOf(e) > 2,
        'dropper back',
      );
      await watcher.client.publish('room-r', 'after the drop');
      expect(await bob.events.message.next(() => true, 'message after reconnect')).toMatchObject({
        channel: 'room-r',
        data: 'after the drop',
      });
    });
  });

  it('lists connected peers for the admin, with their subscriptions, until they leave', async () => {
    const listed = await connected('listed', { peerMetadata: { role: 'camera' } });
    await listed.client.subscribe('room-listed');
    const visitor = peer({ apiKey: 'pk_test_site' }, { origin: 'https://app.example.com' });
    await visitor.client.connect();
    const visitorId = (await visitor.events.connected.next(() => true, 'visitor welcome')).peerId;
    const res = await adminFetch(app, 'GET', '/admin/peers');
    expect(res.status).toBe(200);
    expect(res.body.peers).toContainEqual({
      peerId: 'listed',
      auth: 'token',
      connectedAt: expect.any(String),
      expiresAt: expect.any(Number),
      remoteAddress: expect.any(String),
      permissions: ['subscribe', 'publish', 'presence', 'send'],
      subscriptions: ['room-listed'],
      metadata: { role: 'camera' },
    });
    expect(res.body.peers).toContainEqual(
      expect.objectContaining({ peerId: visitorId, auth: 'key', key: 'pk_test_site', expiresAt: null }),
    );
    await listed.client.close();
    await waitFor(async () => {
      const peers = (await adminFetch(app, 'GET', '/admin/peers')).body.peers as { peerId: string }[];
      return peers.some((p) => p.peerId === 'listed') ? undefined : peers;
    }, 'listed gone from /admin/peers');
    const anonymous = await fetch(`${app.url}/admin/peers`);
    expect(anonymous.status).toBe(401);
  });
});

import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import type { SdkPeer } from './fixtures/signalling/clients';
import { adminFetch, broadcast, mint, sdkPeer } from './fixtures/signalling/clients';

/**
 * The device-event mirror, room bindings, token minting, and shutdown
 * (bridge.md, "Signalling mirror"; issue #4), seen through the official SDK.
 */
describe('signalling mirror, rooms and admin endpoints', () => {
  let storage: Storage;
  let app: TestApp;
  let prefix: string;
  let open: SdkPeer[] = [];
  const env = (): Record<string, string> => ({
    SIGNALLING_ROOMS: JSON.stringify({ 'lobby-config': [`${prefix}/camera/**`] }),
  });

  beforeAll(async () => {
    storage = await freshStorage();
    prefix = storage.topicPrefix;
    app = await bootApp(env(), storage);
  });
  afterEach(async () => {
    await Promise.all(open.map((p) => p.client.close()));
    open = [];
  });
  afterAll(async () => {
    await app.stop();
    await storage.dispose();
  });

  async function subscriber(peerId: string, ...channels: string[]): Promise<SdkPeer> {
    const p = sdkPeer(app, { token: mint(app, { peerId }) });
    open.push(p);
    await p.client.connect();
    for (const channel of channels) await p.client.subscribe(channel);
    return p;
  }

  it('publishes every device event on {prefix}/{type}/{id}/{event} as the server', async () => {
    const all = await subscriber('all', `${prefix}/**`);
    const weather = await subscriber('weather', `${prefix}/weatherstation/*/data`);
    const other = await subscriber('other', `${prefix}/camera/**`);
    const event = await broadcast(app, 'weatherstation', 'ws-001', 'data', { temperature: 25.3 });
    const status = await broadcast(app, 'weatherstation', 'ws-001', 'status', { new_status: 'online' });

    const expected = { channel: `${prefix}/weatherstation/ws-001/data`, from: '_server', data: event };
    expect(await weather.events.message.next(() => true, 'weather data')).toEqual(expected);
    await all.events.message.next((m) => m.channel.endsWith('/status'), 'status on **');
    expect(all.events.message.items).toEqual([
      expected,
      { channel: `${prefix}/weatherstation/ws-001/status`, from: '_server', data: status },
    ]);
    expect(weather.events.message.items).toHaveLength(1);
    expect(other.events.message.items).toEqual([]);
    // The server is a publisher, never a member: nobody sees it in presence.
    for (const p of [all, weather, other])
      for (const e of p.events.presence.items) expect(e.joined.map((j) => j.peerId)).not.toContain('_server');
  });

  describe('POST /v1/tokens', () => {
    it('mints a token the SDK connects with', async () => {
      const res = await adminFetch(app, 'POST', '/v1/tokens', {
        peerId: 'minted',
        channels: ['room-*'],
        permissions: ['subscribe', 'presence'],
        expiresInSec: 120,
        metadata: { iceServers: [{ urls: 'turn:turn.example.com', username: 'u', credential: 'c' }] },
        peerMetadata: { name: 'Minted' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ token: expect.any(String), expiresAt: expect.any(Number) });
      expect(Math.abs(res.body.expiresAt - (Date.now() / 1000 + 120))).toBeLessThan(5);
      const p = sdkPeer(app, { token: res.body.token as string });
      open.push(p);
      await p.client.connect();
      expect(await p.events.connected.next(() => true, 'welcome')).toMatchObject({
        peerId: 'minted',
        expiresAt: res.body.expiresAt,
        iceServers: [{ urls: 'turn:turn.example.com', username: 'u', credential: 'c' }],
      });
      await p.client.subscribe('room-7');
      await expect(p.client.subscribe('other')).rejects.toMatchObject({ name: 'channel_not_authorized' });
      await expect(p.client.publish('room-7', 1)).rejects.toMatchObject({ name: 'action_not_permitted' });
    });

    it('answers 400 naming each bad field, and 401 without the admin token', async () => {
      const res = await adminFetch(app, 'POST', '/v1/tokens', {
        peerId: 'x'.repeat(129),
        channels: [],
        permissions: ['fly'],
        expiresInSec: 86_401,
        metadata: { blob: 'x'.repeat(9000) },
        peerMetadata: [1],
      });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'invalid_request' });
      expect(Object.keys(res.body.fields).sort()).toEqual(
        ['channels', 'expiresInSec', 'metadata', 'peerId', 'permissions', 'peerMetadata'].sort(),
      );
      expect(res.body.fields.expiresInSec).toBe('must be an integer from 1 to 86400');
      const anonymous = await fetch(`${app.url}/v1/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(anonymous.status).toBe(401);
    });

    it('defaults to an hour and allows up to a day', async () => {
      const res = await adminFetch(app, 'POST', '/v1/tokens', { peerId: 'hourly', channels: ['**'] });
      expect(res.status).toBe(201);
      expect(Math.abs(res.body.expiresAt - (Date.now() / 1000 + 3600))).toBeLessThan(5);
      const daily = await adminFetch(app, 'POST', '/v1/tokens', {
        peerId: 'daily',
        channels: ['**'],
        expiresInSec: 86_400,
      });
      expect(daily.status).toBe(201);
      expect(Math.abs(daily.body.expiresAt - (Date.now() / 1000 + 86_400))).toBeLessThan(5);
    });
  });

  describe('rooms', () => {
    it('publishes device events on the rooms bound to them, from configuration and the admin API', async () => {
      const put = await adminFetch(app, 'PUT', '/admin/rooms/lobby-admin', {
        channels: [`${prefix}/camera/front-door/**`, `${prefix}/doorbell/*/status`],
      });
      expect(put).toEqual({
        status: 200,
        body: {
          room: 'lobby-admin',
          channels: [`${prefix}/camera/front-door/**`, `${prefix}/doorbell/*/status`],
          source: 'admin',
        },
      });
      expect((await adminFetch(app, 'GET', '/admin/rooms')).body).toEqual({
        rooms: [
          {
            room: 'lobby-admin',
            channels: [`${prefix}/camera/front-door/**`, `${prefix}/doorbell/*/status`],
            source: 'admin',
          },
          { room: 'lobby-config', channels: [`${prefix}/camera/**`], source: 'config' },
        ],
      });

      const admin = await subscriber('room-admin', 'lobby-admin');
      const config = await subscriber('room-config', 'lobby-config');
      const front = await broadcast(app, 'camera', 'front-door', 'motion', { zone: 2 });
      const back = await broadcast(app, 'camera', 'back-yard', 'motion', { zone: 1 });
      const ring = await broadcast(app, 'doorbell', 'd1', 'status', { new_status: 'online' });

      await admin.events.message.next(
        (m) => m.data !== null && (m.data as { id: string }).id === ring.id,
        'doorbell on the admin room',
      );
      expect(admin.events.message.items).toEqual([
        { channel: 'lobby-admin', from: '_server', data: front },
        { channel: 'lobby-admin', from: '_server', data: ring },
      ]);
      await config.events.message.next(
        (m) => (m.data as { id: string }).id === back.id,
        'back yard on the config room',
      );
      expect(config.events.message.items).toEqual([
        { channel: 'lobby-config', from: '_server', data: front },
        { channel: 'lobby-config', from: '_server', data: back },
      ]);
    });

    it('stops publishing on a room once it is unbound', async () => {
      await adminFetch(app, 'PUT', '/admin/rooms/short-lived', { channels: [`${prefix}/sensor/**`] });
      const member = await subscriber('short-member', 'short-lived', `${prefix}/sensor/**`);
      await broadcast(app, 'sensor', 's1', 'data', { n: 1 });
      await member.events.message.next((m) => m.channel === 'short-lived', 'bound event');
      expect(await adminFetch(app, 'DELETE', '/admin/rooms/short-lived')).toEqual({ status: 204, body: undefined });
      const later = await broadcast(app, 'sensor', 's1', 'data', { n: 2 });
      await member.events.message.next(
        (m) => (m.data as { id: string }).id === later.id,
        'the device channel still carries it',
      );
      expect(member.events.message.items.filter((m) => m.channel === 'short-lived')).toHaveLength(1);
    });

    it('refuses bad bindings, unknown rooms and configured rooms', async () => {
      const bad = await adminFetch(app, 'PUT', '/admin/rooms/_system%2Fx', { channels: [] });
      expect(bad.status).toBe(400);
      expect(bad.body.fields).toEqual({
        room: 'room uses a reserved prefix (_metered/, _internal/, _system/)',
        channels: 'expected a list of 1 to 100 channel patterns',
      });
      expect((await adminFetch(app, 'PUT', '/admin/rooms/room*', { channels: ['a'] })).body.fields).toEqual({
        room: 'room must be a channel name, not a pattern',
      });
      expect(await adminFetch(app, 'PUT', '/admin/rooms/lobby-config', { channels: ['a'] })).toMatchObject({
        status: 409,
        body: { error: 'room_configured' },
      });
      expect(await adminFetch(app, 'DELETE', '/admin/rooms/lobby-config')).toMatchObject({ status: 409 });
      expect(await adminFetch(app, 'DELETE', '/admin/rooms/nowhere')).toMatchObject({
        status: 404,
        body: { error: 'room_not_found' },
      });
      expect((await fetch(`${app.url}/admin/rooms`)).status).toBe(401);
    });
  });

  it('says going_away and closes 1001 on shutdown; after a restart the SDK resubscribes and admin rooms are still bound', async () => {
    await adminFetch(app, 'PUT', '/admin/rooms/survivor', { channels: [`${prefix}/pump/**`] });
    const port = app.port;
    const p = sdkPeer(app, { token: mint(app, { peerId: 'stayer' }) });
    open.push(p);
    await p.client.connect();
    await p.client.subscribe('survivor');

    await app.stop();
    expect(await p.events['going-away'].next(() => true, 'going_away')).toEqual({ retryAfterMs: 1000 });
    expect(await p.events.disconnected.next(() => true, 'close')).toMatchObject({ code: 1001, willReconnect: true });

    app = await bootApp({ ...env(), PORT: String(port) }, storage);
    await p.events.connected.next((c) => c.isReconnect, 'reconnect after restart', 10_000);
    expect((await adminFetch(app, 'GET', '/admin/rooms')).body.rooms).toContainEqual({
      room: 'survivor',
      channels: [`${prefix}/pump/**`],
      source: 'admin',
    });
    // The resubscribe is acked before its roster arrives; wait for the roster, then publish.
    await p.events.presence.next(
      (e) => e.channel === 'survivor' && p.events.presence.items.indexOf(e) > 0,
      'roster after resubscribe',
    );
    const event = await broadcast(app, 'pump', 'p1', 'data', { rpm: 1200 });
    expect(await p.events.message.next(() => true, 'room event after restart')).toEqual({
      channel: 'survivor',
      from: '_server',
      data: event,
    });
  });
});

/**
 * Issue #5, "Signalling spans instances": three instances over one Redis
 * (owned by the suite, so it may restart it), with the official
 * `@metered-ca/realtime` SDK connected to chosen instances.
 */
import mqtt from 'mqtt';
import type { MintRequest } from '../../src/auth/token.service';
import { TokenService } from '../../src/auth/token.service';
import type { AppConfig } from '../../src/config/app-config';
import type { SdkPeer } from '../fixtures/signalling/clients';
import { adminFetch, rejection, sdkPeer } from '../fixtures/signalling/clients';
import { waitFor } from '../support/wait';
import type { ClusterSetup, Instance } from './cluster-harness';
import { OwnedRedis, clusterSetup, freePort, startInstances, stopInstances } from './cluster-harness';

jest.setTimeout(120_000);

const MQTT_URL = process.env.MQTT_URL as string;
const DATABASE_URL = process.env.DATABASE_URL as string;

describe('signalling across three instances', () => {
  let redis: OwnedRedis;
  let setup: ClusterSetup;
  let instances: Instance[];
  let tokens: TokenService;
  let open: SdkPeer[] = [];
  const admin = (i: Instance): { url: string; adminToken: string } => ({ url: i.url, adminToken: setup.adminToken });

  async function peer(instance: Instance, peerId: string, extra: Partial<MintRequest> = {}): Promise<SdkPeer> {
    const token = tokens.mint({
      peerId,
      channels: ['**'],
      permissions: ['subscribe', 'publish', 'presence', 'send'],
      peerMetadata: { name: peerId },
      ...extra,
    }).token;
    const p = sdkPeer({ url: instance.url }, { token });
    open.push(p);
    await p.client.connect();
    return p;
  }
  const joinedPeers = (p: SdkPeer, channel: string): string[] =>
    p.events.presence.items.filter((e) => e.channel === channel).flatMap((e) => e.joined.map((j) => j.peerId));
  const leftPeers = (p: SdkPeer, channel: string): string[] =>
    p.events.presence.items.filter((e) => e.channel === channel).flatMap((e) => e.left.map((j) => j.peerId));
  const hears = (
    p: SdkPeer,
    channel: string,
    change: 'joined' | 'left',
    who: string,
    timeoutMs?: number,
  ): Promise<unknown> =>
    p.events.presence.next(
      (e) => e.channel === channel && e[change].some((j) => j.peerId === who),
      `${who} ${change}`,
      timeoutMs,
    );

  beforeAll(async () => {
    redis = new OwnedRedis(await freePort());
    await redis.start();
    const pgPort = Number(new URL(DATABASE_URL).port || 5432);
    setup = await clusterSetup(DATABASE_URL, MQTT_URL, redis.url, pgPort);
    tokens = new TokenService({ auth: { jwtSecret: setup.jwtSecret } } as AppConfig);
    instances = await startInstances(['a', 'b', 'c'], setup);
  });
  afterEach(async () => {
    await Promise.all(open.map((p) => p.client.close().catch(() => undefined)));
    open = [];
  });
  afterAll(async () => {
    await stopInstances(instances ?? []);
    await redis?.stop();
    await setup?.dropDatabase();
  });

  it('lists the peers of every instance in the roster and tells each instance of joins and leaves once', async () => {
    const [a, b, c] = instances;
    const alice = await peer(a, 'alice');
    await alice.client.subscribe('room-1');
    await alice.events.presence.next((e) => e.channel === 'room-1', 'alice roster');
    const bob = await peer(b, 'bob');
    await bob.client.subscribe('room-1');
    const bobRoster = await bob.events.presence.next((e) => e.channel === 'room-1', 'bob roster');
    expect(bobRoster.joined).toEqual([{ peerId: 'alice', metadata: { name: 'alice' } }]);
    await hears(alice, 'room-1', 'joined', 'bob');
    const carol = await peer(c, 'carol');
    await carol.client.subscribe('room-1');
    const carolRoster = await carol.events.presence.next((e) => e.channel === 'room-1', 'carol roster');
    expect(carolRoster.joined.map((j) => j.peerId).sort()).toEqual(['alice', 'bob']);
    await Promise.all([hears(alice, 'room-1', 'joined', 'carol'), hears(bob, 'room-1', 'joined', 'carol')]);

    // dave on two instances at once is one peer: joined once, left with his last connection.
    const daveOnA = await peer(a, 'dave');
    const daveOnC = await peer(c, 'dave');
    await daveOnA.client.subscribe('room-1');
    await daveOnC.client.subscribe('room-1');
    await hears(bob, 'room-1', 'joined', 'dave');
    // Presence across instances is as current as the relay: an instance carries its deltas and publishes
    // in order, so once alice (on a) hears dave's publish from c, a knows dave is subscribed on c too, and
    // his leaving a is no leave (without this wait, a loaded machine made a say `left` and then `joined`).
    await daveOnC.client.publish('room-1', 'dave on c');
    await alice.events.message.next((m) => m.data === 'dave on c', "dave's publish from c, on a");
    await daveOnA.client.close();
    await bob.client.unsubscribe('room-1');
    await Promise.all([hears(alice, 'room-1', 'left', 'bob'), hears(carol, 'room-1', 'left', 'bob')]);
    await daveOnC.client.close();
    await Promise.all([hears(alice, 'room-1', 'left', 'dave'), hears(carol, 'room-1', 'left', 'dave')]);
    for (const p of [alice, carol]) {
      expect(joinedPeers(p, 'room-1').filter((id) => id === 'dave')).toHaveLength(1);
      expect(leftPeers(p, 'room-1').filter((id) => id === 'dave')).toHaveLength(1);
    }
  });

  it('delivers a publish to subscribers on the other instances exactly once, never back to the publisher', async () => {
    const [a, b, c] = instances;
    const alice = await peer(a, 'pub-alice');
    const aliceOnC = await peer(c, 'pub-alice');
    const bob = await peer(b, 'pub-bob');
    const carol = await peer(c, 'pub-carol');
    await alice.client.subscribe('chat/**');
    await aliceOnC.client.subscribe('chat/**');
    // Two patterns matching the same channel: still one delivery.
    await bob.client.subscribe('chat/*');
    await bob.client.subscribe('chat/**', { includeSenderMetadata: true });
    await carol.client.subscribe('chat/general');
    for (const n of [1, 2, 3]) await alice.client.publish('chat/general', { n });
    await alice.client.publish('chat/general', 'end');
    for (const p of [bob, carol]) await p.events.message.next((m) => m.data === 'end', 'end marker');
    expect(bob.events.message.items).toEqual(
      [{ n: 1 }, { n: 2 }, { n: 3 }, 'end'].map((data) => ({
        channel: 'chat/general',
        from: 'pub-alice',
        data,
        fromMetadata: { name: 'pub-alice' },
      })),
    );
    expect(carol.events.message.items.map((m) => m.data)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, 'end']);
    expect(alice.events.message.items).toEqual([]);
    expect(aliceOnC.events.message.items).toEqual([]);
  });

  it('sends to a peer connected to another instance, and says peer_not_found only when it is connected nowhere', async () => {
    const [a, b] = instances;
    const alice = await peer(a, 'dm-alice');
    const bob = await peer(b, 'dm-bob');
    // bob's arrival reaches a over Redis a moment after his welcome.
    await waitFor(
      () =>
        alice.client.send('dm-bob', { hello: 'bob' }).then(
          () => true,
          () => undefined,
        ),
      'dm-bob reachable from a',
    );
    expect(await bob.events.direct.next(() => true, 'direct on b')).toEqual({
      from: 'dm-alice',
      data: { hello: 'bob' },
      fromMetadata: { name: 'dm-alice' },
    });
    expect(await rejection(alice.client.send('dm-ghost', 1))).toMatchObject({ name: 'peer_not_found' });
    await bob.client.close();
    await waitFor(
      () =>
        alice.client.send('dm-bob', 2).then(
          () => undefined,
          (err: Error) => err.name,
        ),
      'peer_not_found once bob is gone',
    ).then((name) => expect(name).toBe('peer_not_found'));
  });

  it('lists every instance’s peers on any instance, and disconnects a peer wherever it is (4020)', async () => {
    const [a, b, c] = instances;
    const listed = await Promise.all([peer(a, 'adm-a'), peer(b, 'adm-b'), peer(c, 'adm-c')]);
    await listed[2].client.subscribe('adm-room');
    for (const on of instances) {
      const { status, body } = await adminFetch(admin(on), 'GET', '/admin/peers');
      expect(status).toBe(200);
      const peers = body.peers as { peerId: string; subscriptions: string[] }[];
      expect(
        peers
          .filter((p) => p.peerId.startsWith('adm-'))
          .map((p) => p.peerId)
          .sort(),
      ).toEqual(['adm-a', 'adm-b', 'adm-c']);
      expect(peers.find((p) => p.peerId === 'adm-c')?.subscriptions).toEqual(['adm-room']);
    }
    expect(await adminFetch(admin(a), 'DELETE', '/v1/peers/adm-c')).toEqual({
      status: 200,
      body: { peerId: 'adm-c', disconnected: 1 },
    });
    expect(await listed[2].events.disconnected.next(() => true, 'adm-c closed')).toMatchObject({
      code: 4020,
      willReconnect: false,
    });
    await waitFor(
      async () => ((await adminFetch(admin(b), 'DELETE', '/v1/peers/adm-c')).status === 404 ? true : undefined),
      'adm-c gone everywhere',
    );
  });

  it('applies room bindings made on one instance on all, and mirrors each device event once per peer', async () => {
    const [a, b, c] = instances;
    const put = await adminFetch(admin(a), 'PUT', '/admin/rooms/lobby', { channels: [`${setup.prefix}/beacon/**`] });
    expect(put.status).toBe(200);
    for (const on of [b, c])
      await waitFor(
        async () =>
          (await adminFetch(admin(on), 'GET', '/admin/rooms')).body.rooms.some(
            (r: { room: string }) => r.room === 'lobby',
          ) || undefined,
        `lobby bound on ${on.name}`,
      );
    const inLobby = await Promise.all([peer(b, 'lobby-b'), peer(c, 'lobby-c')]);
    const watcher = await peer(c, 'mirror-c');
    for (const p of inLobby) await p.client.subscribe('lobby');
    await watcher.client.subscribe(`${setup.prefix}/beacon/*/data`);
    const device = await mqtt.connectAsync(MQTT_URL, { clientId: `sig-dev-${setup.prefix}`, protocolVersion: 5 });
    const publish = async (numbers: number[]): Promise<void> => {
      for (const n of numbers)
        await device.publishAsync(`${setup.prefix}/beacon/sig-1/data`, JSON.stringify({ n }), { qos: 1 });
    };
    const numbers = (p: SdkPeer): number[] =>
      p.events.message.items.map((m) => (m.data as { data: { n: number } }).data.n).sort((x, y) => x - y);
    try {
      await publish([1, 2, 3, 4, 5]);
      for (const p of [...inLobby, watcher])
        await waitFor(() => (numbers(p).length >= 5 ? true : undefined), 'five device events');
      // Give any duplicate time to show: the sixth event arrives behind it.
      await publish([6]);
      for (const p of [...inLobby, watcher]) await waitFor(() => (numbers(p).includes(6) ? true : undefined), 'six');
      for (const p of [...inLobby, watcher]) expect(numbers(p)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(inLobby[0].events.message.items[0]).toMatchObject({ channel: 'lobby', from: '_server' });

      expect((await adminFetch(admin(b), 'DELETE', '/admin/rooms/lobby')).status).toBe(204);
      await waitFor(
        async () => ((await adminFetch(admin(c), 'GET', '/admin/rooms')).body.rooms.length === 0 ? true : undefined),
        'lobby unbound on c',
      );
      await publish([7]);
      await waitFor(() => (numbers(watcher).includes(7) ? true : undefined), 'seven on the mirror');
      expect(numbers(inLobby[1])).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      await device.endAsync();
    }
  });

  it('carries on across a Redis restart: rosters kept, messages flow again', async () => {
    const [a, b] = instances;
    const alice = await peer(a, 'rr-alice');
    const bob = await peer(b, 'rr-bob');
    await alice.client.subscribe('rr');
    await bob.client.subscribe('rr');
    await hears(alice, 'rr', 'joined', 'rr-bob');
    await redis.stop();
    await waitFor(
      async () =>
        ((await (await fetch(`${a.url}/health`)).json()) as { status: string }).status === 'degraded' || undefined,
      'degraded health',
    );
    await redis.start();
    for (const on of [a, b])
      await waitFor(
        async () =>
          ((await (await fetch(`${on.url}/health`)).json()) as { status: string }).status === 'ok' || undefined,
        `${on.name} healthy again`,
        20_000,
      );
    let n = 0;
    await waitFor(
      async () => {
        await bob.client.publish('rr', ++n);
        return alice.events.message.items.length > 0 ? true : undefined;
      },
      'a message from b after the restart',
      10_000,
    );
    const carol = await peer(b, 'rr-carol');
    await carol.client.subscribe('rr');
    const roster = await carol.events.presence.next((e) => e.channel === 'rr', 'carol roster');
    expect(roster.joined.map((j) => j.peerId).sort()).toEqual(['rr-alice', 'rr-bob']);
    expect(leftPeers(alice, 'rr')).toEqual([]);
  });

  it('takes a killed instance’s peers out of every roster within seconds', async () => {
    const [a, b, victim] = instances;
    const watchers = await Promise.all([peer(a, 'kill-a'), peer(b, 'kill-b')]);
    for (const w of watchers) await w.client.subscribe('room-k');
    const doomed = await peer(victim, 'kill-c', { permissions: ['subscribe', 'presence'] });
    await doomed.client.subscribe('room-k');
    await Promise.all(watchers.map((w) => hears(w, 'room-k', 'joined', 'kill-c')));
    victim.service.child.kill('SIGKILL');
    await victim.service.exited();
    const killedAt = Date.now();
    // EXPIRE_MS (4 s) after its last heartbeat, checked every second.
    await Promise.all(watchers.map((w) => hears(w, 'room-k', 'left', 'kill-c', 8000)));
    expect(Date.now() - killedAt).toBeLessThan(8000);
    expect(await rejection(watchers[0].client.send('kill-c', 1))).toMatchObject({ name: 'peer_not_found' });
    const { body } = await adminFetch(admin(a), 'GET', '/admin/peers');
    expect((body.peers as { peerId: string }[]).map((p) => p.peerId)).not.toContain('kill-c');
    instances = [a, b];
    await doomed.client.close();
  });
});

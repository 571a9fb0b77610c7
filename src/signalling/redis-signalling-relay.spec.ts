import { ChannelMatcher } from '../auth/channel-pattern';
import type { Permission } from '../auth/token.service';
import type { ClusterLeaseService } from '../cluster/cluster-lease.service';
import type { RedisRepository } from '../cluster/redis.repository';
import type { AppConfig } from '../config/app-config';
import type { ChannelCommandsService } from './channel-commands.service';
import type { DeviceChannelsService } from './device-channels.service';
import { EXPIRE_MS, HEARTBEAT_MS, RedisSignallingRelay } from './redis-signalling-relay';
import type { ClientFrame, OutboundFrame } from './signalling-frames';
import { SignallingError } from './signalling-frames';
import { SignallingHubService } from './signalling-hub.service';
import type { PeerSocket, SignallingPeer } from './signalling-peer';

/** Redis pub/sub between fake instances: messages queue until `flush`, in publish order. */
class FakeNetwork {
  private readonly subscriptions: { redis: FakeRedis; channel: string; handler: (m: Buffer) => void }[] = [];
  private queue: [string, string][] = [];
  dropNext = 0;

  subscribe(redis: FakeRedis, channel: string, handler: (m: Buffer) => void): void {
    this.subscriptions.push({ redis, channel, handler });
  }
  publish(channel: string, message: string): void {
    if (this.dropNext > 0) return void this.dropNext--;
    this.queue.push([channel, message]);
  }
  flush(): void {
    while (this.queue.length > 0) {
      const [channel, message] = this.queue.shift() as [string, string];
      for (const s of this.subscriptions)
        if (s.channel === channel && s.redis.connected && !s.redis.dead) s.handler(Buffer.from(message));
    }
  }
}

class FakeRedis {
  connected = true;
  dead = false;
  readonly enabled = true;
  private readonly reconnects: (() => void)[] = [];
  constructor(private readonly net: FakeNetwork) {}
  key(name: string): string {
    return `ns:${name}`;
  }
  subscribe(channel: string, handler: (m: Buffer) => void): Promise<void> {
    this.net.subscribe(this, channel, handler);
    return Promise.resolve();
  }
  publish(channel: string, message: string): void {
    if (this.connected && !this.dead) this.net.publish(channel, message);
  }
  onReconnect(listener: () => void): void {
    this.reconnects.push(listener);
  }
  reconnect(): void {
    this.connected = true;
    this.reconnects.forEach((l) => l());
  }
}

class FakeSocket implements PeerSocket {
  readonly frames: Record<string, unknown>[] = [];
  closed: number | undefined;
  bufferedAmount = 0;
  send(frame: OutboundFrame): void {
    this.frames.push(JSON.parse(frame.json.toString('utf8')) as Record<string, unknown>);
  }
  close(code: number): void {
    this.closed = code;
  }
  ofType(type: string): Record<string, unknown>[] {
    return this.frames.filter((f) => f.type === type);
  }
}

const config = { maxMessageSize: 65536, delivery: { sendBufferBytes: 1 << 20 } } as AppConfig;
const ALL: Permission[] = ['subscribe', 'publish', 'presence', 'send'];
const frame = (f: Record<string, unknown>): ClientFrame => f as unknown as ClientFrame;

describe('RedisSignallingRelay: several hubs as one signalling service', () => {
  let net: FakeNetwork;
  let instances: { hub: SignallingHubService; relay: RedisSignallingRelay; redis: FakeRedis }[];

  async function instance(name: string): Promise<(typeof instances)[number]> {
    const redis = new FakeRedis(net);
    const relay = new RedisSignallingRelay(
      redis as unknown as RedisRepository,
      {
        instanceId: name,
      } as ClusterLeaseService,
    );
    const commands = { target: () => undefined } as unknown as ChannelCommandsService;
    const noop = (): undefined => undefined;
    const devices = {
      route: noop,
      checkPublish: noop,
      checkSubscribe: noop,
      connected: noop,
      disconnected: noop,
      stop: noop,
    };
    const hub = new SignallingHubService(config, commands, relay, devices as unknown as DeviceChannelsService);
    await relay.onModuleInit();
    const made = { hub, relay, redis };
    instances.push(made);
    return made;
  }
  function connect(hub: SignallingHubService, peerId: string): { peer: SignallingPeer; socket: FakeSocket } {
    const socket = new FakeSocket();
    const peer = hub.connect(
      {
        peerId,
        expiresAt: null,
        channels: ['**'],
        matcher: new ChannelMatcher(['**']),
        permissions: new Set(ALL),
        peerMetadata: { name: peerId },
      },
      socket,
    );
    return { peer, socket };
  }
  const subscribe = (hub: SignallingHubService, peer: SignallingPeer, channel: string): void =>
    hub.handle(peer, frame({ type: 'subscribe', channel, requestId: 's', includeSenderMetadata: false }));
  const presence = (socket: FakeSocket): { joined: string[]; left: string[] }[] =>
    socket.ofType('presence').map((p) => ({
      joined: (p.joined as { peerId: string }[]).map((j) => j.peerId),
      left: (p.left as { peerId: string }[]).map((j) => j.peerId),
    }));

  beforeEach(() => {
    jest.useFakeTimers();
    net = new FakeNetwork();
    instances = [];
  });
  afterEach(() => {
    for (const i of instances) i.relay.onModuleDestroy();
    jest.useRealTimers();
  });

  it('lists peers of every instance in the roster and announces joined/left once per peer id', async () => {
    const a = await instance('a');
    const b = await instance('b');
    net.flush();
    const alice = connect(a.hub, 'alice');
    subscribe(a.hub, alice.peer, 'room');
    net.flush();
    const bob = connect(b.hub, 'bob');
    subscribe(b.hub, bob.peer, 'room');
    net.flush();
    expect(presence(bob.socket)).toEqual([{ joined: ['alice'], left: [] }]);
    expect(presence(alice.socket)).toEqual([
      { joined: [], left: [] },
      { joined: ['bob'], left: [] },
    ]);
    expect(bob.socket.ofType('presence')[0].joined).toEqual([{ peerId: 'alice', metadata: { name: 'alice' } }]);
    // bob again, on a: already present on the channel, so nobody hears of it twice.
    const bobToo = connect(a.hub, 'bob');
    subscribe(a.hub, bobToo.peer, 'room');
    net.flush();
    b.hub.disconnect(bob.peer);
    net.flush();
    expect(presence(alice.socket)).toHaveLength(2);
    a.hub.disconnect(bobToo.peer);
    net.flush();
    expect(presence(alice.socket).at(-1)).toEqual({ joined: [], left: ['bob'] });
  });

  it('delivers a publish to subscribers on the other instances once, never to the publisher', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const c = await instance('c');
    const alice = connect(a.hub, 'alice');
    const aliceOnC = connect(c.hub, 'alice');
    const bob = connect(b.hub, 'bob');
    subscribe(b.hub, bob.peer, 'chat/*');
    subscribe(b.hub, bob.peer, 'chat/**');
    subscribe(c.hub, aliceOnC.peer, 'chat/**');
    net.flush();
    a.hub.handle(alice.peer, frame({ type: 'publish', channel: 'chat/x', data: { n: 1 }, hasData: true }));
    net.flush();
    expect(bob.socket.ofType('message')).toEqual([
      { type: 'message', channel: 'chat/x', from: 'alice', data: { n: 1 } },
    ]);
    expect(aliceOnC.socket.ofType('message')).toEqual([]);
  });

  it('sends to a peer connected only elsewhere, and says peer_not_found only when it is nowhere', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const alice = connect(a.hub, 'alice');
    const bob = connect(b.hub, 'bob');
    net.flush();
    a.hub.handle(alice.peer, frame({ type: 'send', to: 'bob', data: { hi: 1 }, hasData: true, requestId: 'r1' }));
    net.flush();
    expect(alice.socket.ofType('ack')).toEqual([{ type: 'ack', requestId: 'r1' }]);
    expect(bob.socket.ofType('direct')).toEqual([
      { type: 'direct', from: 'alice', data: { hi: 1 }, fromMetadata: { name: 'alice' } },
    ]);
    const send = frame({ type: 'send', to: 'nobody', data: 1, hasData: true, requestId: 'r2' });
    expect(() => a.hub.handle(alice.peer, send)).toThrow(SignallingError);
  });

  it('lists and disconnects peers on every instance', async () => {
    const a = await instance('a');
    const b = await instance('b');
    connect(a.hub, 'alice');
    const bob = connect(b.hub, 'bob');
    net.flush();
    const listed = a.hub.peers();
    net.flush();
    expect((await listed).map((p) => p.peerId).sort()).toEqual(['alice', 'bob']);
    const kicked = a.hub.kick('bob');
    net.flush();
    expect(await kicked).toBe(1);
    expect(bob.socket.closed).toBe(4020);
  });

  it('forgets an instance that went silent: its peers leave within EXPIRE_MS', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const alice = connect(a.hub, 'alice');
    subscribe(a.hub, alice.peer, 'room');
    subscribe(b.hub, connect(b.hub, 'bob').peer, 'room');
    net.flush();
    b.redis.dead = true; // SIGKILL: no bye, no more heartbeats
    for (let t = 0; t < EXPIRE_MS - HEARTBEAT_MS; t += HEARTBEAT_MS) {
      jest.advanceTimersByTime(HEARTBEAT_MS);
      net.flush();
    }
    expect(presence(alice.socket).at(-1)).toEqual({ joined: ['bob'], left: [] });
    jest.advanceTimersByTime(2 * HEARTBEAT_MS);
    net.flush();
    expect(presence(alice.socket).at(-1)).toEqual({ joined: [], left: ['bob'] });
    expect(a.relay.connectedElsewhere('bob')).toBe(false);
  });

  it('notices a lost delta from the heartbeat and takes the whole state instead', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const alice = connect(a.hub, 'alice');
    subscribe(a.hub, alice.peer, 'room');
    net.flush();
    net.dropNext = 2; // bob's `on` and `join`
    subscribe(b.hub, connect(b.hub, 'bob').peer, 'room');
    net.flush();
    expect(presence(alice.socket)).toHaveLength(1);
    jest.advanceTimersByTime(HEARTBEAT_MS);
    net.flush();
    expect(presence(alice.socket).at(-1)).toEqual({ joined: ['bob'], left: [] });
  });

  it('keeps the others while cut off from Redis, and catches up once it is back', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const alice = connect(a.hub, 'alice');
    subscribe(a.hub, alice.peer, 'room');
    const bob = connect(b.hub, 'bob');
    subscribe(b.hub, bob.peer, 'room');
    net.flush();
    a.redis.connected = false;
    b.redis.connected = false;
    jest.advanceTimersByTime(3 * EXPIRE_MS);
    b.hub.disconnect(bob.peer); // unheard: Redis is down
    net.flush();
    expect(presence(alice.socket).at(-1)).toEqual({ joined: ['bob'], left: [] });
    a.redis.reconnect();
    b.redis.reconnect();
    net.flush();
    jest.advanceTimersByTime(HEARTBEAT_MS);
    net.flush();
    expect(presence(alice.socket).at(-1)).toEqual({ joined: [], left: ['bob'] });
  });
});

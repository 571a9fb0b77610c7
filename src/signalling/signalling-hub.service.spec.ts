import { ChannelMatcher } from '../auth/channel-pattern';
import { DomainError, NotFoundError } from '../common/domain-error';
import type { CommandsService } from '../devices/commands.service';
import { ChannelCommandsService } from './channel-commands.service';
import type { Permission } from '../auth/token.service';
import type { AppConfig } from '../config/app-config';
import type { ClientFrame, OutboundFrame } from './signalling-frames';
import { SignallingClose, SignallingError } from './signalling-frames';
import { SERVER_PEER_ID, SignallingHubService } from './signalling-hub.service';
import type { PeerIdentity, PeerSocket, SignallingPeer } from './signalling-peer';
import { LocalSignallingRelay } from './signalling-relay';
import { DeviceTypes } from '../config/device-types';
import { DeviceChannels } from '../devices/device-channels';
import type { DeviceIngestService } from '../devices/device-ingest.service';
import { DeviceRejects } from '../devices/device-rejects';
import { MetricsService } from '../observability/metrics.service';
import { DeviceChannelsService } from './device-channels.service';

class FakeSocket implements PeerSocket {
  readonly frames: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | undefined;
  bufferedAmount = 0;
  send(frame: OutboundFrame): void {
    this.frames.push(JSON.parse(frame.json.toString('utf8')) as Record<string, unknown>);
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  ofType(type: string): Record<string, unknown>[] {
    return this.frames.filter((f) => f.type === type);
  }
}

const config = {
  maxMessageSize: 65536,
  delivery: { sendBufferBytes: 1000 },
  mqtt: { topicPrefix: 'things' },
} as AppConfig;
const ALL: Permission[] = ['subscribe', 'publish', 'presence', 'send'];

function identity(peerId: string, extra: Partial<PeerIdentity> = {}): PeerIdentity {
  const channels = extra.channels ?? ['**'];
  return {
    peerId,
    expiresAt: null,
    channels,
    matcher: new ChannelMatcher(channels),
    permissions: new Set(ALL),
    ...extra,
  };
}

describe('SignallingHubService', () => {
  let hub: SignallingHubService;
  let sent: unknown[][];
  let commandFailure: Error | undefined;
  beforeEach(() => {
    sent = [];
    commandFailure = undefined;
    const devices = {
      send: (...args: unknown[]) => {
        if (commandFailure) return Promise.reject(commandFailure);
        sent.push(args);
        return Promise.resolve({ kind: 'sent', requestId: 'r' });
      },
    } as unknown as CommandsService;
    // No device messages here (device-channels.service.spec.ts has them): nothing is ever ingested.
    const deviceChannels = new DeviceChannelsService(
      new DeviceChannels('things', []),
      undefined as unknown as DeviceIngestService,
      DeviceTypes.load(undefined),
      new DeviceRejects(),
      new MetricsService(),
    );
    hub = new SignallingHubService(
      config,
      new ChannelCommandsService(devices),
      new LocalSignallingRelay(),
      deviceChannels,
    );
  });

  function join(peerId: string, extra: Partial<PeerIdentity> = {}): { peer: SignallingPeer; socket: FakeSocket } {
    const socket = new FakeSocket();
    const peer = hub.connect(identity(peerId, extra), socket);
    return { peer, socket };
  }
  const frame = (f: Record<string, unknown>): ClientFrame => f as unknown as ClientFrame;
  const sub = (channel: string, requestId = `s-${channel}`, includeSenderMetadata = false): ClientFrame =>
    frame({ type: 'subscribe', channel, requestId, includeSenderMetadata });
  const pub = (channel: string, data: unknown, requestId?: string): ClientFrame =>
    frame({ type: 'publish', channel, data, hasData: data !== undefined, requestId });
  const error = (fn: () => void): SignallingError => {
    try {
      fn();
    } catch (err) {
      if (err instanceof SignallingError) return err;
      throw err;
    }
    throw new Error('no SignallingError thrown');
  };

  it('welcomes first, with the identity and limits', () => {
    const { socket } = join('alice', { metadata: { iceServers: [] }, expiresAt: 1_900_000_000 });
    expect(socket.frames).toEqual([
      {
        type: 'welcome',
        peerId: 'alice',
        expiresAt: 1_900_000_000,
        serverTime: expect.any(Number),
        maxMessageSize: 65536,
        metadata: { iceServers: [] },
      },
    ]);
  });

  it('acks a subscribe, then sends the roster, and tells the others', () => {
    const a = join('alice', { peerMetadata: { name: 'Alice' } });
    hub.handle(a.peer, sub('room'));
    expect(a.socket.frames.slice(1)).toEqual([
      { type: 'ack', requestId: 's-room' },
      { type: 'presence', channel: 'room', joined: [], left: [] },
    ]);
    const b = join('bob');
    hub.handle(b.peer, sub('room'));
    expect(b.socket.frames.slice(1)).toEqual([
      { type: 'ack', requestId: 's-room' },
      { type: 'presence', channel: 'room', joined: [{ peerId: 'alice', metadata: { name: 'Alice' } }], left: [] },
    ]);
    expect(a.socket.frames.at(-1)).toEqual({
      type: 'presence',
      channel: 'room',
      joined: [{ peerId: 'bob' }],
      left: [],
    });
    hub.handle(b.peer, frame({ type: 'unsubscribe', channel: 'room', requestId: 'u1' }));
    expect(b.socket.frames.at(-1)).toEqual({ type: 'ack', requestId: 'u1' });
    expect(a.socket.frames.at(-1)).toEqual({
      type: 'presence',
      channel: 'room',
      joined: [],
      left: [{ peerId: 'bob' }],
    });
    hub.disconnect(a.peer);
    expect(b.socket.frames.at(-1)).toEqual({ type: 'ack', requestId: 'u1' });
  });

  it('sends presence only to peers with the presence permission', () => {
    const quiet = join('quiet', { permissions: new Set<Permission>(['subscribe']) });
    hub.handle(quiet.peer, sub('room'));
    const loud = join('loud');
    hub.handle(loud.peer, sub('room'));
    expect(quiet.socket.ofType('presence')).toEqual([]);
    expect(loud.socket.ofType('presence')).toEqual([
      { type: 'presence', channel: 'room', joined: [{ peerId: 'quiet' }], left: [] },
    ]);
  });

  it('counts a peer id once in presence however many connections it has', () => {
    const watcher = join('watcher');
    hub.handle(watcher.peer, sub('room'));
    const tab1 = join('carol');
    const tab2 = join('carol');
    hub.handle(tab1.peer, sub('room'));
    hub.handle(tab2.peer, sub('room'));
    expect(watcher.socket.ofType('presence').slice(1)).toEqual([
      { type: 'presence', channel: 'room', joined: [{ peerId: 'carol' }], left: [] },
    ]);
    hub.disconnect(tab1.peer);
    expect(watcher.socket.ofType('presence')).toHaveLength(2);
    hub.disconnect(tab2.peer);
    expect(watcher.socket.ofType('presence').at(-1)).toEqual({
      type: 'presence',
      channel: 'room',
      joined: [],
      left: [{ peerId: 'carol' }],
    });
    // The roster a newcomer gets lists each peer id once, never itself.
    const late = join('late');
    hub.handle(late.peer, sub('room'));
    expect(late.socket.ofType('presence')).toEqual([
      { type: 'presence', channel: 'room', joined: [{ peerId: 'watcher' }], left: [] },
    ]);
  });

  it('delivers once per connection with the concrete channel, never to the publisher', () => {
    const a = join('alice', { peerMetadata: { name: 'Alice' } });
    const b = join('bob');
    const c = join('carol');
    hub.handle(a.peer, sub('fleet/**'));
    hub.handle(b.peer, sub('fleet/**'));
    hub.handle(b.peer, sub('fleet/sensor-*/telemetry', 's2', true));
    hub.handle(c.peer, sub('fleet/sensor-1/telemetry'));
    hub.handle(a.peer, pub('fleet/sensor-1/telemetry', { t: 21.5 }, 'p1'));
    expect(a.socket.frames.at(-1)).toEqual({ type: 'ack', requestId: 'p1' });
    expect(a.socket.ofType('message')).toEqual([]);
    // bob matches twice; he gets it once, with fromMetadata because one of his subscriptions asked for it.
    expect(b.socket.ofType('message')).toEqual([
      {
        type: 'message',
        channel: 'fleet/sensor-1/telemetry',
        from: 'alice',
        data: { t: 21.5 },
        fromMetadata: { name: 'Alice' },
      },
    ]);
    expect(c.socket.ofType('message')).toEqual([
      { type: 'message', channel: 'fleet/sensor-1/telemetry', from: 'alice', data: { t: 21.5 } },
    ]);
    expect(hub.stats.delivered).toBe(2);
  });

  it('publishes as the server with the data already serialised', () => {
    const a = join('alice');
    hub.handle(a.peer, sub('things/**'));
    expect(hub.publishFromServer('things/ws/1/data', '{"id":"7"}')).toBe(1);
    expect(a.socket.ofType('message')).toEqual([
      { type: 'message', channel: 'things/ws/1/data', from: SERVER_PEER_ID, data: { id: '7' } },
    ]);
    expect(hub.publishFromServer('other/x', '{}')).toBe(0);
  });

  it('refuses bad subscriptions with the spec codes', () => {
    const limited = join('limited', { channels: ['things/weatherstation/**'] });
    expect(error(() => hub.handle(limited.peer, sub('things/**', 'r1')))).toMatchObject({
      code: 'channel_not_authorized',
      requestId: 'r1',
    });
    expect(error(() => hub.handle(limited.peer, sub('_system/x', 'r2')))).toMatchObject({
      code: 'channel_reserved',
      requestId: 'r2',
    });
    expect(error(() => hub.handle(limited.peer, frame({ type: 'subscribe', requestId: 'r3' })))).toMatchObject({
      code: 'invalid_channel',
      requestId: 'r3',
    });
    const readOnly = join('reader', { permissions: new Set<Permission>(['subscribe']) });
    expect(error(() => hub.handle(readOnly.peer, pub('things/a', 1, 'r4')))).toMatchObject({
      code: 'action_not_permitted',
    });
    const full = join('full');
    for (let i = 0; i < 100; i++) hub.handle(full.peer, sub(`c/${i}`));
    expect(error(() => hub.handle(full.peer, sub('c/100', 'r5')))).toMatchObject({
      code: 'channel_limit_exceeded',
      requestId: 'r5',
    });
    // Re-subscribing to a channel already held is not a new subscription.
    hub.handle(full.peer, sub('c/5', 'again'));
    expect(full.socket.frames.at(-2)).toEqual({ type: 'ack', requestId: 'again' });
  });

  it('relays send to every connection of the target, or answers peer_not_found', () => {
    const a = join('alice', { peerMetadata: { name: 'Alice' } });
    const b1 = join('bob');
    const b2 = join('bob');
    hub.handle(a.peer, frame({ type: 'send', to: 'bob', data: { hi: 1 }, hasData: true, requestId: 'd1' }));
    expect(a.socket.frames.at(-1)).toEqual({ type: 'ack', requestId: 'd1' });
    for (const s of [b1.socket, b2.socket])
      expect(s.ofType('direct')).toEqual([
        { type: 'direct', from: 'alice', data: { hi: 1 }, fromMetadata: { name: 'Alice' } },
      ]);
    expect(
      error(() => hub.handle(a.peer, frame({ type: 'send', to: 'nobody', data: 1, hasData: true, requestId: 'd2' }))),
    ).toMatchObject({ code: 'peer_not_found', requestId: 'd2' });
    expect(error(() => hub.handle(a.peer, frame({ type: 'send', to: 'é', data: 1, hasData: true })))).toMatchObject({
      code: 'invalid_peer_id',
    });
    expect(error(() => hub.handle(a.peer, frame({ type: 'send', to: 'bob', hasData: false })))).toMatchObject({
      code: 'missing_data',
    });
  });

  it('drops a slow consumer with 1008 instead of buffering without bound', () => {
    const a = join('alice');
    const b = join('bob');
    hub.handle(b.peer, sub('x'));
    b.socket.bufferedAmount = 1001;
    hub.handle(a.peer, pub('x', 'hello'));
    expect(b.socket.closed).toEqual({ code: 1008, reason: 'slow consumer: send buffer full' });
    expect(b.socket.ofType('message')).toEqual([]);
  });

  it('limits concurrent connections per key with 4010', () => {
    const key = { key: 'pk_live_a' };
    const first = hub.connect(identity('k1', key), new FakeSocket(), 2);
    hub.connect(identity('k2', key), new FakeSocket(), 2);
    expect(() => hub.connect(identity('k3', key), new FakeSocket(), 2)).toThrow(SignallingClose);
    hub.disconnect(first);
    expect(() => hub.connect(identity('k3', key), new FakeSocket(), 2)).not.toThrow();
  });

  it('kicks a peer id with 4020 and says going_away then 1001 to everyone on shutdown', async () => {
    const a = join('alice');
    const b = join('bob');
    expect(await hub.kick('alice')).toBe(1);
    expect(a.socket.closed).toEqual({ code: 4020, reason: 'disconnected by an administrator' });
    expect(await hub.kick('nobody')).toBe(0);
    hub.goAway();
    expect(b.socket.frames.at(-1)).toEqual({ type: 'going_away', retryAfterMs: 1000 });
    expect(b.socket.closed?.code).toBe(1001);
  });

  describe('commands from channels', () => {
    /** Lets the pending command promise settle. */
    const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

    it('sends {command, payload} published on {prefix}/{type}/{id}/cmd to the device, and relays no raw copy', async () => {
      const operator = join('operator');
      const watcher = join('watcher');
      hub.handle(watcher.peer, sub('things/**'));
      hub.handle(operator.peer, pub('things/camera/front/cmd', { command: 'snapshot', payload: { hd: true } }, 'c1'));
      await settle();
      expect(sent).toEqual([['camera', 'front', 'snapshot', { hd: true }, undefined, 'signalling']]);
      expect(operator.socket.frames.at(-1)).toEqual({ type: 'ack', requestId: 'c1' });
      // The device gets the command from the mirror, with its request_id (issue #15): one copy, not two.
      expect(watcher.socket.ofType('message')).toEqual([]);
      // Not command channels: another prefix, another depth.
      hub.handle(operator.peer, pub('other/camera/front/cmd', { command: 'x' }));
      hub.handle(operator.peer, pub('things/camera/front/cmd/extra', { command: 'x' }));
      await settle();
      expect(sent).toHaveLength(1);
    });

    it.each([
      ['a payload that is not a command', 'reboot', undefined, 'malformed_message'],
      ['a payload that is a list', { command: 'reboot', payload: [1] }, undefined, 'malformed_message'],
      [
        'an unknown device',
        { command: 'reboot' },
        new NotFoundError('unknown_device', 'No device camera/front'),
        'invalid_channel',
      ],
      [
        'a command the type does not declare',
        { command: 'fly' },
        new DomainError('invalid_command', 'unknown command fly', 400),
        'malformed_message',
      ],
      [
        'a broker that is down',
        { command: 'reboot' },
        new DomainError('broker_unavailable', 'down', 503),
        'backend_error',
      ],
    ])('answers %s with an error frame and relays nothing', async (_what, data, failure, code) => {
      commandFailure = failure;
      const operator = join('operator');
      const watcher = join('watcher');
      hub.handle(watcher.peer, sub('things/**'));
      hub.handle(operator.peer, pub('things/camera/front/cmd', data, 'c2'));
      await settle();
      expect(operator.socket.frames.at(-1)).toMatchObject({ type: 'error', code, requestId: 'c2' });
      expect(watcher.socket.ofType('message')).toEqual([]);
      expect(sent).toEqual([]);
    });
  });

  it('maps unexpected failures to internal_error with a correlation id', () => {
    const a = join('alice');
    hub.fail(a.peer, new Error('boom'), 'r9');
    expect(a.socket.frames.at(-1)).toEqual({
      type: 'error',
      code: 'internal_error',
      requestId: 'r9',
      message: expect.stringMatching(/^internal error \(correlation id [0-9a-f-]{36}\)$/),
    });
  });

  it('lists connected peers', async () => {
    const a = join('alice', { peerMetadata: { name: 'Alice' }, expiresAt: 1_900_000_000 });
    hub.handle(a.peer, sub('room'));
    expect(await hub.peers()).toEqual([
      {
        peerId: 'alice',
        auth: 'token',
        connectedAt: expect.any(String),
        expiresAt: 1_900_000_000,
        permissions: ALL,
        subscriptions: ['room'],
        metadata: { name: 'Alice' },
      },
    ]);
  });
});

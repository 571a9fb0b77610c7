/**
 * Issue #5, the replicated setup of docker-compose.yml on loopback: two
 * instances behind the reverse proxy of deploy/nginx.conf (Balancer). Every
 * web transport resumes on the instance it did not start on, and clients
 * behind the proxy (whose requests land on either instance) see one service.
 */
import jwt from 'jsonwebtoken';
import mqtt from 'mqtt';
import type { Socket } from 'socket.io-client';
import { io } from 'socket.io-client';
import { sdkPeer } from '../fixtures/signalling/clients';
import { openSse } from '../support/sse-client';
import { waitFor } from '../support/wait';
import type { WireEvent } from '../support/web-clients';
import { numbersOf, openWs } from '../support/web-clients';
import { Balancer } from './balancer';
import type { ClusterSetup, Instance } from './cluster-harness';
import { OwnedRedis, clusterSetup, freePort, startInstances, stopInstances } from './cluster-harness';

jest.setTimeout(120_000);

const MQTT_URL = process.env.MQTT_URL as string;
const DATABASE_URL = process.env.DATABASE_URL as string;

interface PollAnswer {
  events: WireEvent[];
  cursor: string;
  more: boolean;
}

describe('two instances behind the reverse proxy', () => {
  let redis: OwnedRedis;
  let setup: ClusterSetup;
  let instances: Instance[];
  let proxy: Balancer;
  let device: mqtt.MqttClient;
  let token: string;
  const sockets: Socket[] = [];
  let seq = 0;

  /** Publishes `count` data events of a fresh device type (so each test reads only its own). */
  const publish = async (type: string, count: number): Promise<number[]> => {
    const sent: number[] = [];
    for (let i = 0; i < count; i++) {
      const n = ++seq;
      await device.publishAsync(`${setup.prefix}/${type}/d-1/data`, JSON.stringify({ n }), { qos: 1 });
      sent.push(n);
    }
    return sent;
  };
  const sorted = (numbers: number[]): number[] => [...numbers].sort((x, y) => x - y);
  const ids = (events: WireEvent[]): number[] => events.map((e) => Number(e.id));
  const ws = (on: string, type: string, after?: string): ReturnType<typeof openWs> =>
    openWs(`${on.replace(/^http/, 'ws')}/ws/iot/${type}/?token=${token}${after ? `&last_event_id=${after}` : ''}`);
  const poll = async (on: string, type: string, query: string): Promise<PollAnswer> => {
    const res = await fetch(`${on}/iot/poll/${type}/?${query}`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as PollAnswer;
  };
  const socketIo = async (
    on: string,
    transports: ('websocket' | 'polling')[],
  ): Promise<{ socket: Socket; events: WireEvent[] }> => {
    const socket = io(`${on}/iot`, { auth: { token }, transports, reconnection: false, forceNew: true });
    sockets.push(socket);
    const events: WireEvent[] = [];
    socket.on('data', (e: WireEvent) => events.push(e));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return { socket, events };
  };
  const subscribe = async (socket: Socket, payload: Record<string, unknown>): Promise<void> => {
    expect(await socket.timeout(5000).emitWithAck('subscribe', payload)).toEqual({ ok: true });
  };

  beforeAll(async () => {
    redis = new OwnedRedis(await freePort());
    await redis.start();
    setup = await clusterSetup(DATABASE_URL, MQTT_URL, redis.url, Number(new URL(DATABASE_URL).port || 5432));
    token = jwt.sign({ sub: 'web', channels: ['**'], permissions: ['subscribe'] }, setup.jwtSecret, {
      expiresIn: 3600,
    });
    instances = await startInstances(['a', 'b'], setup);
    proxy = new Balancer(() => instances.map((i) => i.url));
    await proxy.start();
    device = await mqtt.connectAsync(MQTT_URL, { clientId: `tr-dev-${setup.prefix}`, protocolVersion: 5 });
  });
  afterAll(async () => {
    sockets.forEach((s) => s.disconnect());
    await device?.endAsync();
    await proxy?.stop();
    await stopInstances(instances ?? []);
    await redis?.stop();
    await setup?.dropDatabase();
  });

  it('resumes a WebSocket on the other instance from an id the first gave, with no gap and no duplicate', async () => {
    const [a, b] = instances;
    const onA = await ws(a.url, 'wsr');
    const sent = await publish('wsr', 20);
    const seen = await onA.waitForEvents(20);
    onA.close();
    const onB = await ws(b.url, 'wsr', seen[9].id);
    const resumed = await onB.waitForEvents(10);
    expect(ids(resumed)).toEqual(ids(seen.slice(10)));
    expect(sorted([...numbersOf(seen.slice(0, 10)), ...numbersOf(resumed)])).toEqual(sent);
    const more = await publish('wsr', 5);
    await onB.waitForEvents(15);
    expect(sorted(numbersOf(onB.events().slice(10)))).toEqual(more);
    onB.close();
  });

  it('delivers socket.io events on both instances in one order, and resumes on the other', async () => {
    const [a, b] = instances;
    const onA = await socketIo(a.url, ['websocket']);
    const onB = await socketIo(b.url, ['websocket']);
    await subscribe(onA.socket, { device_type: 'sio' });
    await subscribe(onB.socket, { device_type: 'sio' });
    const sent = await publish('sio', 12);
    for (const s of [onA, onB]) await waitFor(() => (s.events.length >= 12 ? true : undefined), 'socket.io events');
    expect(sorted(numbersOf(onA.events))).toEqual(sent);
    expect(ids(onB.events)).toEqual(ids(onA.events));
    expect(ids(onA.events)).toEqual(sorted(ids(onA.events)));
    onA.socket.disconnect();
    const again = await socketIo(b.url, ['websocket']);
    await subscribe(again.socket, { device_type: 'sio', last_event_id: onA.events[5].id });
    await waitFor(() => (again.events.length >= 6 ? true : undefined), 'resumed socket.io events');
    expect(ids(again.events)).toEqual(ids(onA.events.slice(6)));
  });

  it('takes a poll cursor from one instance on the other, and "since last poll" follows the client', async () => {
    const [a, b] = instances;
    const first = await poll(a.url, 'pl', 'client_id=poller');
    expect(first.events).toEqual([]);
    const sent = await publish('pl', 8);
    // "Since my last poll" asked of b: the events after the position a recorded.
    const sinceOnB = await waitFor(async () => {
      const answer = await poll(b.url, 'pl', 'client_id=poller&wait=2');
      return answer.events.length > 0 ? answer : undefined;
    }, 'events since the poll on a');
    let got = sinceOnB.events;
    while (got.length < 8) got = [...got, ...(await poll(a.url, 'pl', 'client_id=poller&wait=2')).events];
    expect(sorted(numbersOf(got))).toEqual(sent);
    expect((await poll(b.url, 'pl', 'client_id=poller')).events).toEqual([]);
    // A cursor a gave, read on b: exactly what follows it.
    const fromCursor = await poll(b.url, 'pl', `cursor=${got[2].id}&limit=1000`);
    expect(ids(fromCursor.events)).toEqual(ids(got.slice(3)));
  });

  it('serves a browser behind the proxy from either instance: polls, SSE and socket.io over long-polling', async () => {
    // Polls without a cursor ("since my last poll"): round-robin spreads them over both instances.
    const picksBefore = proxy.picks.length;
    const start = await poll(proxy.url, 'lb', 'client_id=browser');
    expect(start.events).toEqual([]);
    const sse = await openSse(`${proxy.url}/iot/stream/lb/?token=${token}`);
    const sio = await socketIo(proxy.url, ['polling', 'websocket']);
    await subscribe(sio.socket, { device_type: 'lb' });
    const sent = await publish('lb', 10);
    const polled: WireEvent[] = [];
    await waitFor(
      async () => {
        polled.push(...(await poll(proxy.url, 'lb', 'client_id=browser&wait=1')).events);
        return polled.length >= 10 ? true : undefined;
      },
      'every event polled through the proxy',
      20_000,
    );
    expect(new Set(proxy.picks.slice(picksBefore)).size).toBe(2);
    expect(sorted(numbersOf(polled))).toEqual(sent);
    expect(ids(polled)).toEqual(sorted(ids(polled)));
    await waitFor(() => (sse.events().filter((e) => e.event === 'data').length >= 10 ? true : undefined), 'SSE');
    await waitFor(() => (sio.events.length >= 10 ? true : undefined), 'socket.io over polling');
    expect(ids(sio.events)).toEqual(ids(polled));
    expect(sse.events().map((e) => Number(e.id))).toEqual(ids(polled));
    sse.close();
  });

  it('connects signalling peers through the proxy to different instances that see each other', async () => {
    const token1 = jwt.sign(
      { sub: 'lb-alice', channels: ['**'], permissions: ['subscribe', 'presence', 'publish'] },
      setup.jwtSecret,
      { expiresIn: 600 },
    );
    const token2 = jwt.sign(
      { sub: 'lb-bob', channels: ['**'], permissions: ['subscribe', 'presence'] },
      setup.jwtSecret,
      {
        expiresIn: 600,
      },
    );
    const before = proxy.picks.length;
    const alice = sdkPeer({ url: proxy.url }, { token: token1 });
    await alice.client.connect();
    const bob = sdkPeer({ url: proxy.url }, { token: token2 });
    await bob.client.connect();
    try {
      expect(new Set(proxy.picks.slice(before)).size).toBe(2);
      await alice.client.subscribe('lb-room');
      await bob.client.subscribe('lb-room');
      // In bob's roster, or (when bob subscribed before alice's join reached his instance) a `joined` right after.
      await bob.events.presence.next(
        (e) => e.channel === 'lb-room' && e.joined.some((j) => j.peerId === 'lb-alice'),
        'lb-alice in the roster or joined',
      );
      await alice.client.publish('lb-room', 'hello');
      expect(await bob.events.message.next(() => true, 'message')).toMatchObject({ from: 'lb-alice', data: 'hello' });
    } finally {
      await Promise.all([alice.client.close(), bob.client.close()]);
    }
  });
});

/**
 * Issue #5: three instances as one service over Mosquitto (one share group,
 * ingesting by lease: issue #12), PostgreSQL (one log) and Redis (fan-out,
 * leader lease).
 * Runs in the "cluster" Jest project, which exists when MQTT_URL,
 * DATABASE_URL and REDIS_URL are set (`.ci/run` sets them).
 */
import jwt from 'jsonwebtoken';
import mqtt from 'mqtt';
import { Client } from 'pg';
import type { ClusterSetup, Instance } from './cluster-harness';
import { CuttableProxy, OwnedRedis, clusterSetup, freePort, startInstance } from './cluster-harness';
import type { SseStream } from '../support/sse-client';
import { openSse } from '../support/sse-client';
import { waitFor } from '../support/wait';

jest.setTimeout(180_000);

const MQTT_URL = process.env.MQTT_URL as string;
const DATABASE_URL = process.env.DATABASE_URL as string;

describe('three instances as one service', () => {
  let redis: OwnedRedis;
  let pgProxy: CuttableProxy;
  let setup: ClusterSetup;
  let instances: Instance[];
  let device: mqtt.MqttClient;
  let token: string;
  let seq = 0;

  const publishData = async (count: number, deviceId = 'b-1'): Promise<number[]> => {
    const sent: number[] = [];
    for (let i = 0; i < count; i++) {
      const n = ++seq;
      await device.publishAsync(`${setup.prefix}/beacon/${deviceId}/data`, JSON.stringify({ n }), { qos: 1 });
      sent.push(n);
    }
    return sent;
  };
  const dataNumbers = (stream: SseStream): number[] =>
    stream
      .events()
      .filter((e) => e.event === 'data')
      .map((e) => e.data.n as number);
  const sorted = (numbers: number[]): number[] => [...numbers].sort((x, y) => x - y);
  /**
   * Every number exactly once, ids strictly increasing: the one order every client sees. (Publish order per
   * device is cluster-order.e2e-spec.ts's.)
   */
  const expectExactlyOnceInLogOrder = (s: SseStream, sent: number[]): void => {
    expect(sorted(dataNumbers(s))).toEqual(sorted(sent));
    const ids = s.events().map((e) => Number(e.id));
    expect(ids).toEqual(sorted(ids));
    expect(new Set(ids).size).toBe(ids.length);
  };
  const stream = (instance: Instance, after?: string): Promise<SseStream> =>
    openSse(`${instance.url}/iot/stream/beacon/?token=${token}${after ? `&last_event_id=${after}` : ''}`);
  const logCount = async (): Promise<number> => {
    const c = new Client({ connectionString: setup.databaseUrl });
    await c.connect();
    const { rows } = await c.query<{ n: string }>(`SELECT COUNT(*) AS n FROM events WHERE event = 'data'`);
    await c.end();
    return Number(rows[0].n);
  };

  beforeAll(async () => {
    redis = new OwnedRedis(await freePort());
    await redis.start();
    const pgUrl = new URL(DATABASE_URL);
    pgProxy = new CuttableProxy(Number(pgUrl.port || 5432), pgUrl.hostname);
    await pgProxy.start();
    setup = await clusterSetup(DATABASE_URL, MQTT_URL, redis.url, pgProxy.port);
    token = jwt.sign(
      { sub: 'cluster-client', channels: ['**'], permissions: ['subscribe', 'publish'] },
      setup.jwtSecret,
      { expiresIn: 3600 },
    );
    // The first instance runs the migrations; the others start on a ready schema.
    instances = [await startInstance('a', setup)];
    instances.push(...(await Promise.all([startInstance('b', setup), startInstance('c', setup)])));
    device = await mqtt.connectAsync(MQTT_URL, { clientId: `dev-${setup.prefix}`, protocolVersion: 5 });
  });

  afterAll(async () => {
    await device?.endAsync();
    for (const i of instances ?? []) i.service.child.kill('SIGKILL');
    await Promise.all((instances ?? []).map((i) => i.service.exited().catch(() => null)));
    await pgProxy?.cut().catch(() => undefined);
    await redis?.stop();
    await setup?.dropDatabase();
  });

  it('ingests each message once and delivers it to clients on every instance exactly once, in the same order', async () => {
    const streams = await Promise.all(instances.map((i) => stream(i)));
    const sent = await publishData(150);
    for (const s of streams)
      await waitFor(
        () => (dataNumbers(s).length >= sent.length ? true : undefined),
        `150 events on every instance`,
        20_000,
      );
    expect(await logCount()).toBe(sent.length);
    const orders = streams.map((s) => s.events().map((e) => e.id));
    for (const s of streams) expect(dataNumbers(s).sort((x, y) => x - y)).toEqual(sent);
    expect(orders[1]).toEqual(orders[0]);
    expect(orders[2]).toEqual(orders[0]);
    const ids = orders[0].map(Number);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    streams.forEach((s) => s.close());
  });

  it('resumes on any instance from an id another instance gave, with no gap and no duplicate', async () => {
    const onA = await stream(instances[0]);
    const sent = await publishData(40);
    await waitFor(() => (dataNumbers(onA).length >= 40 ? true : undefined), 'events on a');
    const events = onA.events();
    onA.close();
    const resumeAfter = events[19].id;
    const onB = await stream(instances[1], resumeAfter);
    await waitFor(() => (onB.events().length >= 20 ? true : undefined), 'resumed events on b');
    expect(
      onB
        .events()
        .slice(0, 20)
        .map((e) => e.id),
    ).toEqual(events.slice(20).map((e) => e.id));
    expect(sorted([...dataNumbers(onA).slice(0, 20), ...dataNumbers(onB).slice(0, 20)])).toEqual(sent);
    onB.close();
  });

  it('answers a command on the instance it was sent through, whichever instance ingests the response', async () => {
    const responder = await mqtt.connectAsync(MQTT_URL, { clientId: `resp-${setup.prefix}`, protocolVersion: 5 });
    await responder.subscribeAsync(`${setup.prefix}/beacon/b-cmd/cmd`, { qos: 1 });
    responder.on('message', (_topic, payload) => {
      const cmd = JSON.parse(payload.toString()) as { request_id: string };
      void responder.publishAsync(
        `${setup.prefix}/beacon/b-cmd/cmd/response`,
        JSON.stringify({ request_id: cmd.request_id, result: { ok: true } }),
        { qos: 1 },
      );
    });
    await publishData(1, 'b-cmd');
    // Every instance learns of the device from the bus before it is asked to command it.
    for (const instance of instances)
      await waitFor(
        async () =>
          (await fetch(`${instance.url}/api/devices/beacon/b-cmd`, { headers: { Authorization: `Bearer ${token}` } }))
            .status === 200 || undefined,
        `b-cmd registered on ${instance.name}`,
      );
    try {
      for (const instance of instances) {
        const res = await fetch(`${instance.url}/api/devices/beacon/b-cmd/commands`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${setup.adminToken}` },
          body: JSON.stringify({ command: 'ping', payload: {}, timeout: 5 }),
        });
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ result: { ok: true } });
      }
    } finally {
      await responder.endAsync();
    }
  });

  it('runs the offline sweep once for the cluster, not once per instance', async () => {
    const onA = await stream(instances[0]);
    await publishData(1, 'b-sweep');
    // heartbeat_interval 1 s: offline after 2.5 s of silence.
    await waitFor(
      () =>
        onA.events().some((e) => e.event === 'status' && e.device_id === 'b-sweep' && e.data.new_status === 'offline')
          ? true
          : undefined,
      'offline status event',
      15_000,
    );
    // Give a second sweep on another instance the time it would need to show up.
    const settle = Date.now() + 3000;
    await waitFor(() => (Date.now() > settle ? true : undefined), 'settling', 5000);
    const offline = onA
      .events()
      .filter((e) => e.event === 'status' && e.device_id === 'b-sweep' && e.data.new_status === 'offline');
    expect(offline).toHaveLength(1);
    onA.close();
  });

  it('keeps ingesting and delivering when an instance is killed, and its clients resume elsewhere without loss', async () => {
    const victim = instances[2];
    const onVictim = await stream(victim);
    const onA = await stream(instances[0]);
    const before = await publishData(20);
    await waitFor(() => (dataNumbers(onVictim).length >= 20 ? true : undefined), 'events on the victim');
    const lastSeen = onVictim.events()[onVictim.events().length - 1].id;
    victim.service.child.kill('SIGKILL');
    await victim.service.exited();
    onVictim.close();
    const after = await publishData(60);
    await waitFor(
      () => (dataNumbers(onA).length >= before.length + after.length ? true : undefined),
      'events on a after the kill',
      30_000,
    );
    expectExactlyOnceInLogOrder(onA, [...before, ...after]);
    const resumed = await stream(instances[1], lastSeen);
    await waitFor(() => (dataNumbers(resumed).length >= after.length ? true : undefined), 'resumed on b');
    expectExactlyOnceInLogOrder(resumed, after);
    // The same events in the same order as on a.
    expect(resumed.events().map((e) => e.id)).toEqual(
      onA
        .events()
        .filter((e) => Number(e.id) > Number(lastSeen))
        .map((e) => e.id),
    );
    resumed.close();
    onA.close();
    instances = instances.slice(0, 2);
  });

  it('rides out a Redis restart: degraded meanwhile, every event delivered and resumable afterwards', async () => {
    const onA = await stream(instances[0]);
    await redis.stop();
    await waitFor(
      async () =>
        ((await (await fetch(`${instances[0].url}/health`)).json()) as { status: string }).status === 'degraded' ||
        undefined,
      'degraded health',
    );
    const during = await publishData(30);
    // Events ingested by either instance still reach a's client (read from the log while Redis is away).
    await waitFor(() => (dataNumbers(onA).length >= 30 ? true : undefined), 'events during the outage', 20_000);
    await redis.start();
    await waitFor(
      async () =>
        ((await (await fetch(`${instances[0].url}/health`)).json()) as { status: string }).status === 'ok' || undefined,
      'healthy again',
      20_000,
    );
    const afterwards = await publishData(30);
    await waitFor(() => (dataNumbers(onA).length >= 60 ? true : undefined), 'events after the restart', 20_000);
    expectExactlyOnceInLogOrder(onA, [...during, ...afterwards]);
    const firstId = onA.events()[0].id;
    const resumed = await stream(instances[1], String(Number(firstId) - 1));
    await waitFor(() => (dataNumbers(resumed).length >= 60 ? true : undefined), 'resume after the restart');
    expect(resumed.events().map((e) => e.id)).toEqual(onA.events().map((e) => e.id));
    resumed.close();
    onA.close();
  });

  it('holds events while PostgreSQL is unreachable and writes them all, in order, when it is back', async () => {
    const onA = await stream(instances[0]);
    await pgProxy.cut();
    const during = publishData(20);
    await waitFor(
      async () => {
        const res = await fetch(`${instances[0].url}/health`);
        return res.status === 503 ? true : undefined;
      },
      'health says the database is down',
      20_000,
    );
    await pgProxy.restore();
    const sent = await during;
    await waitFor(() => (dataNumbers(onA).length >= 20 ? true : undefined), 'held events delivered', 30_000);
    expectExactlyOnceInLogOrder(onA, sent);
    expect((await fetch(`${instances[0].url}/health`)).status).toBe(200);
    onA.close();
  });
});

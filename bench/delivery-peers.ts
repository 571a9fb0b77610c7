/**
 * Latency at everyday rates against a stateless flow (issue #17), a phase of
 * bench/delivery.ts:
 *
 *   npm run bench -- delivery --only peers [--peers embedded,mosquitto,node-red,durable-floor,embedded-pg,mosquitto-pg]
 *                                          [--workloads 1000,10000,fanout] [--stages]
 *                                          [--warmup 5] [--per-second]
 *
 * Peers, each started fresh for each workload and stopped after it:
 * - the bridge on its embedded broker (SQLite file);
 * - the bridge with `MQTT_URL` = Mosquitto (SQLite file; the bench's
 *   MQTT_URL, default mqtt://127.0.0.1:1883) and a topic prefix of its own;
 * - Node-RED 4, `mqtt in` on the same Mosquitto -> `websocket out`
 *   (bench/node-red.ts, installed on first use outside the repository);
 * - the durable floor (bench/durable-floor.ts): on the same Mosquitto, each
 *   message appended to a file and fdatasync'd (group commit) before it is
 *   sent; the least any process that syncs before it sends does;
 * - with DATABASE_URL=postgres://…, the two bridge peers again on PostgreSQL
 *   (a fresh database for each run, dropped after it).
 * `--stages` traces every event through the bridge (StageClock: received,
 * queued, sealed, committed, sent) and prints where its time went, with the
 * bridge's event-loop delay.
 * Workloads: 1,000 msg/s and 10,000 msg/s to one WebSocket client, 200
 * msg/s to 100 WebSocket clients; each for the warm-up and then 4 s. The
 * same publisher loop and the same WebSocket client code for every peer,
 * and beside each a bare MQTT subscriber on the broker the publisher uses,
 * receiving the same messages in the same run: the floor.
 * Latency is MQTT publish to receipt. The first `--warmup` seconds (5 by
 * default; 1 until 2026-12-07) are published at the same rate and dropped,
 * then 4 seconds are measured: a just-started process is still compiling
 * its hot paths, and a long-running service is not. At 1,000 msg/s the
 * bridge's main thread spent about 470 ms a second in its first seconds
 * and 70-135 ms from its sixth on (a CPU profile), with V8's compiler
 * threads busy meanwhile; Node-RED's p50 moved less (0.51 to 0.34 ms over
 * its first four seconds).
 * Printed: p50/p99/max per path, then bridge/Node-RED, bridge/durable floor
 * and bridge/bare, and each peer's CPU time per message over the measured
 * seconds (the whole process, every thread; the broker's own CPU is in
 * none but the embedded bridge's). `--per-second`: each measured second's
 * p50 and p99 too.
 * Goal (issue #17): bridge p99 at most half of Node-RED's, p50 within 1 ms
 * of the bare subscriber's. Mosquitto or Node-RED unavailable: those peers
 * are skipped with a note. Loopback only; about 4 minutes for the three
 * workloads and four peers (5 with PostgreSQL: 5 minutes).
 */
import { availableParallelism, loadavg } from 'node:os';
import type { StageReport } from '../src/observability/stage-clock';
import type { ServerStages } from './delivery-server';
import type { Sample } from './delivery-harness';
import { Server, mqttClient, openMany, paced, payload, processCpuMs, settle, wsClient } from './delivery-harness';
import type { Stats } from './latency-stats';
import { ms, stats } from './latency-stats';
import { hasFlag, listFlag, numberFlag } from './args';
import { DurableFloor } from './durable-floor';
import { NodeRed, installNodeRed } from './node-red';
import { freshPostgres } from './fresh-postgres';

const MOSQUITTO = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
/** Seconds published and dropped before the measured ones. */
const WARMUP_SECONDS = numberFlag('warmup', 5);
/** Seconds measured after the warm-up. */
const MEASURED_SECONDS = 4;
const PER_SECOND = hasFlag('per-second');
/** Until every client and the bare subscriber have seen a probe message, the peer is not ready. */
const READY_DEADLINE_MS = 20_000;

interface Workload {
  name: string;
  label: string;
  rate: number;
  clients: number;
}
const WORKLOADS: Workload[] = [
  { name: '1000', label: '1,000 msg/s, one WebSocket client', rate: 1000, clients: 1 },
  { name: '10000', label: '10,000 msg/s, one WebSocket client', rate: 10_000, clients: 1 },
  { name: 'fanout', label: '100 WebSocket clients x 200 msg/s', rate: 200, clients: 100 },
];

/** One peer, running: where to publish, where its WebSocket clients connect. */
interface Running {
  brokerUrl: string;
  topic: string;
  wsUrl: string;
  /** The bridge's per-stage delays (`--stages`) and CPU time. */
  stages?: () => Promise<ServerStages>;
  /** The peer's process, for its CPU time. */
  pid?: number;
  stop(): Promise<void>;
}
interface Peer {
  name: string;
  label: string;
  bridge: boolean;
  start(run: string): Promise<Running>;
}

const STAGES = hasFlag('stages');
const POSTGRES = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : undefined;

async function bridge(options: { mqttUrl?: string; topicPrefix?: string; postgres?: boolean }): Promise<Running> {
  const database = options.postgres && POSTGRES !== undefined ? await freshPostgres(POSTGRES) : undefined;
  const server = await Server.start({ ...options, databaseUrl: database?.url, stages: STAGES });
  return {
    brokerUrl: server.mqttUrl,
    topic: `${options.topicPrefix ?? 'things'}/bench/b-1/data`,
    wsUrl: `${server.url.replace('http', 'ws')}/ws/iot/bench/`,
    stages: () => server.stages(),
    pid: server.pid,
    stop: async () => {
      await server.stop();
      await database?.drop();
    },
  };
}

async function reachable(url: string): Promise<boolean> {
  try {
    await (await mqttClient(url, 'reachable')).endAsync();
    return true;
  } catch {
    return false;
  }
}

async function availablePeers(): Promise<Peer[]> {
  const wanted = listFlag('peers', [
    'embedded',
    'mosquitto',
    'node-red',
    ...(POSTGRES === undefined ? [] : ['embedded-pg', 'mosquitto-pg']),
  ]);
  const peers: Peer[] = [];
  if (wanted.includes('embedded'))
    peers.push({ name: 'embedded', label: 'bridge, embedded broker', bridge: true, start: () => bridge({}) });
  if (wanted.includes('embedded-pg') && POSTGRES !== undefined)
    peers.push({
      name: 'embedded-pg',
      label: 'bridge, embedded broker, PostgreSQL',
      bridge: true,
      start: () => bridge({ postgres: true }),
    });
  const needMosquitto = ['mosquitto', 'mosquitto-pg', 'node-red', 'durable-floor'].some((p) => wanted.includes(p));
  if (needMosquitto && !(await reachable(MOSQUITTO))) {
    console.log(
      `No MQTT broker at ${MOSQUITTO} (MQTT_URL): the peers on Mosquitto (bridge, Node-RED, durable floor) are skipped.\n`,
    );
    return peers;
  }
  if (wanted.includes('mosquitto'))
    peers.push({
      name: 'mosquitto',
      label: 'bridge, Mosquitto',
      bridge: true,
      start: (run) => bridge({ mqttUrl: MOSQUITTO, topicPrefix: `dhbench${run}` }),
    });
  if (wanted.includes('mosquitto-pg') && POSTGRES !== undefined)
    peers.push({
      name: 'mosquitto-pg',
      label: 'bridge, Mosquitto, PostgreSQL',
      bridge: true,
      start: (run) => bridge({ mqttUrl: MOSQUITTO, topicPrefix: `dhbench${run}`, postgres: true }),
    });
  if (wanted.includes('durable-floor'))
    peers.push({
      name: 'durable-floor',
      label: 'durable floor (Mosquitto, fdatasync, then send)',
      bridge: false,
      start: async (run) => {
        const topic = `dhbench${run}/floor/data`;
        const floor = await DurableFloor.start(MOSQUITTO, topic);
        return { brokerUrl: MOSQUITTO, topic, wsUrl: floor.wsUrl, pid: floor.pid, stop: () => floor.stop() };
      },
    });
  if (wanted.includes('node-red')) {
    const installed = installNodeRed();
    if (installed.redJs === undefined) console.log(`${installed.problem}: the Node-RED peer is skipped.\n`);
    else {
      const redJs = installed.redJs;
      peers.push({
        name: 'node-red',
        label: `Node-RED ${installed.version}`,
        bridge: false,
        start: async (run) => {
          const topic = `dhbench${run}/node-red/data`;
          const nodeRed = await NodeRed.start(redJs, MOSQUITTO, topic);
          return { brokerUrl: MOSQUITTO, topic, wsUrl: nodeRed.wsUrl, pid: nodeRed.pid, stop: () => nodeRed.stop() };
        },
      });
    }
  }
  return peers;
}

interface Result {
  web: Stats;
  bare: Stats;
  webReceived: number;
  bareReceived: number;
  sent: number;
  stages?: StageReport;
  /** The bridge's CPU time over the whole run (every thread, and the main thread's), ms. */
  cpuMs?: number;
  mainCpuMs?: number;
  /** The peer process's CPU time over the measured seconds, ms. */
  measuredCpuMs?: number;
  /** Messages published in the measured seconds. */
  measured: number;
  /** `--per-second`: each measured second's WebSocket latencies. */
  seconds: Stats[];
}

async function measure(peer: Peer, workload: Workload, run: string): Promise<Result> {
  const running = await peer.start(run);
  const web: number[] = [];
  const bare: number[] = [];
  const counts = { web: 0, bare: 0 };
  const probed = { web: 0, bare: 0 };
  const firstMeasured = workload.rate * WARMUP_SECONDS;
  const bySecond: number[][] = [];
  const record = (into: number[], path: 'web' | 'bare', seen: Set<number>, id: number) => (s: Sample) => {
    if (s.seq < 0) {
      if (!seen.has(id)) {
        seen.add(id);
        probed[path]++;
      }
      return;
    }
    counts[path]++;
    if (s.seq < firstMeasured) return;
    const latency = performance.now() - s.t;
    into.push(latency);
    if (PER_SECOND && path === 'web')
      (bySecond[Math.floor((s.seq - firstMeasured) / workload.rate)] ??= []).push(latency);
  };
  const webSeen = new Set<number>();
  let nextId = 0;
  const clients = await openMany(workload.clients, () =>
    wsClient(running.wsUrl, record(web, 'web', webSeen, nextId++)),
  );
  const subscriber = await mqttClient(running.brokerUrl, `bare-${run}`);
  const onBare = record(bare, 'bare', new Set(), 0);
  subscriber.on('message', (_topic, message: Buffer) => onBare(JSON.parse(message.toString()) as Sample));
  await subscriber.subscribeAsync(running.topic, { qos: 0 });
  const publisher = await mqttClient(running.brokerUrl, `pub-${run}`);
  // Probes (seq -1) until the whole path is up: the peer's subscription, its flow, every client.
  const deadline = Date.now() + READY_DEADLINE_MS;
  while (probed.web < workload.clients || probed.bare < 1) {
    if (Date.now() > deadline) throw new Error(`${peer.label} did not deliver a probe within ${READY_DEADLINE_MS} ms`);
    publisher.publish(running.topic, payload(-1), { qos: 0 });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  let cpuFrom: number | undefined;
  const sent = await paced(publisher, running.topic, workload.rate, WARMUP_SECONDS + MEASURED_SECONDS, (seq) => {
    if (seq === firstMeasured) cpuFrom = processCpuMs(running.pid);
  });
  await settle(
    () => counts.web + counts.bare,
    () => counts.web >= sent * workload.clients && counts.bare >= sent,
  );
  const cpuTo = processCpuMs(running.pid);
  clients.forEach((ws) => ws.terminate());
  await publisher.endAsync();
  await subscriber.endAsync();
  const server = await running.stages?.();
  await running.stop();
  return {
    web: stats(web),
    bare: stats(bare),
    webReceived: counts.web,
    bareReceived: counts.bare,
    sent,
    stages: server?.report,
    cpuMs: server?.cpuMs,
    mainCpuMs: server?.mainCpuMs,
    measuredCpuMs: cpuFrom !== undefined && cpuTo !== undefined ? cpuTo - cpuFrom : undefined,
    measured: sent - firstMeasured,
    seconds: bySecond.map((latencies) => stats(latencies)),
  };
}

/** Where the bridge's time went, stage by stage (`--stages`). */
function printStages(label: string, report: StageReport): void {
  const cells = report.delays.map((d) => `${d.from} → ${d.to}: ${ms(d.p50)} / ${ms(d.p99)} / ${ms(d.max)}`);
  const tail = report.tail.map((t) => `${t.from} → ${t.to} ${ms(t.meanMs)}`);
  console.log(`|   ${label}, stages p50 / p99 / max | ${cells.join('; ')} | | | | |`);
  console.log(`|   ${label}, slowest 1% (mean) | ${tail.join('; ')} | | | | |`);
  const loop = report.loopDelay;
  console.log(
    `|   ${label}, event-loop delay | p50 ${ms(loop.p50)}, p99 ${ms(loop.p99)}, max ${ms(loop.max)} | | | | |`,
  );
}

const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
/** CPU µs per measured message, or undefined without /proc. */
const cpuPerMessage = (r: Result): number | undefined =>
  r.measuredCpuMs === undefined ? undefined : (1000 * r.measuredCpuMs) / r.measured;

export async function peers(): Promise<void> {
  const all = await availablePeers();
  const chosen = listFlag(
    'workloads',
    WORKLOADS.map((w) => w.name),
  );
  const summary: string[] = [];
  for (const workload of WORKLOADS.filter((w) => chosen.includes(w.name))) {
    const total = workload.rate * (WARMUP_SECONDS + MEASURED_SECONDS);
    console.log(
      `### Peers: ${workload.label}, ${total.toLocaleString('en-US')} messages (publish to WebSocket receipt, the first ${WARMUP_SECONDS} s dropped)\n`,
    );
    // Other work on the machine shows in every figure here: say how busy it was.
    console.log(`Load average before: ${loadavg()[0].toFixed(2)} over ${availableParallelism()} cores.\n`);
    console.log('| peer | path | received | p50 | p99 | max |\n|---|---|---|---|---|---|');
    const results = new Map<string, Result>();
    for (const peer of all) {
      const r = await measure(peer, workload, `${process.pid}x${workload.name}x${peer.name}`);
      results.set(peer.name, r);
      const expected = r.sent * workload.clients;
      console.log(
        `| ${peer.label} | WebSocket | ${r.webReceived}/${expected} | ${ms(r.web.p50)} | ${ms(r.web.p99)} | ${ms(r.web.max)} |`,
      );
      console.log(
        `| ${peer.label} | bare MQTT subscriber | ${r.bareReceived}/${r.sent} | ${ms(r.bare.p50)} | ${ms(r.bare.p99)} | ${ms(r.bare.max)} |`,
      );
      if (r.stages) printStages(peer.label, r.stages);
      if (r.cpuMs !== undefined)
        console.log(
          `|   ${peer.label}, server CPU | ${r.cpuMs.toFixed(0)} ms, ${((1000 * r.cpuMs) / r.sent).toFixed(1)} µs per message; main thread ${r.mainCpuMs ?? '?'} ms | | | | |`,
        );
      const perMessage = cpuPerMessage(r);
      if (perMessage !== undefined)
        console.log(
          `|   ${peer.label}, process CPU, measured seconds | ${perMessage.toFixed(0)} µs per message | | | | |`,
        );
      if (PER_SECOND)
        console.log(
          `|   ${peer.label}, WebSocket p50 / p99 by second | ${r.seconds.map((s) => `${ms(s.p50)} / ${ms(s.p99)}`).join('; ')} | | | | |`,
        );
      summary.push(
        `| ${workload.name} | ${peer.label} | ${ms(r.web.p50)} | ${ms(r.web.p99)} | ${ms(r.bare.p50)} | ${ms(r.bare.p99)} |`,
      );
    }
    const nodeRed = results.get('node-red');
    const floor = results.get('durable-floor');
    const versus = (a: number, peer: Result | undefined, b: (r: Result) => number | undefined): string => {
      const other = peer && b(peer);
      return other ? ratio(a, other) : 'n/a';
    };
    console.log(
      '\n| bridge | p50 / Node-RED | p99 / Node-RED | p99 / durable floor | p50 / bare | p99 / bare | p50 - bare | CPU per message / Node-RED |\n|---|---|---|---|---|---|---|---|',
    );
    for (const peer of all.filter((p) => p.bridge)) {
      const r = results.get(peer.name) as Result;
      const cpu = cpuPerMessage(r);
      const cpuRatio = cpu === undefined ? 'n/a' : versus(cpu, nodeRed, cpuPerMessage);
      console.log(
        `| ${peer.label} | ${versus(r.web.p50, nodeRed, (n) => n.web.p50)} | ${versus(r.web.p99, nodeRed, (n) => n.web.p99)} | ${versus(r.web.p99, floor, (f) => f.web.p99)} | ${ratio(r.web.p50, r.bare.p50)} | ${ratio(r.web.p99, r.bare.p99)} | ${ms(r.web.p50 - r.bare.p50)} | ${cpuRatio} |`,
      );
    }
    console.log('\nGoal: p99 / Node-RED <= 0.50x, p50 - bare <= 1 ms.\n');
  }
  console.log('### Peers, summary (WebSocket, and the bare subscriber of the same run)\n');
  console.log('| workload | peer | p50 | p99 | bare p50 | bare p99 |\n|---|---|---|---|---|---|');
  summary.forEach((line) => console.log(line));
  console.log('');
}

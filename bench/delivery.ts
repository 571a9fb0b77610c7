/**
 * Web delivery benchmark (issues #3 and #17).
 *
 *   npm run bench -- delivery [--seconds 10] [--flood 100000] [--fanout 1000] [--idle 5000]
 *                             [--only latency,flood,fanout,memory,peers]
 *
 * The service runs in a child process (bench/delivery-server.ts: the real
 * app, embedded broker, SQLite; BENCH_DATABASE_URL=sqlite::memory: takes
 * the disk out of the picture), the clients here, so each side has a core
 * and the server's RSS is its own. Every phase starts a fresh server.
 *
 * 1. Latency from MQTT publish to WebSocket receipt and to SSE receipt at
 *    1,000 and 10,000 msg/s (p50, p99, max), with the embedded broker's bare
 *    publish-to-subscribe latency measured on the same messages in the same run.
 *    Targets: p99 <= 5 ms at 1,000 msg/s, <= 20 ms at 10,000 msg/s.
 * 2. Flood: 100,000 messages at full speed to one WebSocket subscriber,
 *    counted, beside a bare MQTT subscriber. Target: 100% at >= 30,000 msg/s.
 * 3. Fan-out: 1,000 WebSocket + 1,000 SSE clients, 10 msg/s each. Target: p99 <= 50 ms.
 * 4. Memory per idle connection: server RSS growth over 5,000 idle WebSocket
 *    and 5,000 idle SSE connections. Target: <= 30 KB each.
 * 5. Peers (issue #17, bench/delivery-peers.ts): the bridge on the embedded
 *    broker, the bridge on Mosquitto and Node-RED 4 (`mqtt in` -> `websocket
 *    out`) at everyday rates, each beside a bare MQTT subscriber, with the
 *    ratios bridge/Node-RED and bridge/bare.
 */
import { listFlag, numberFlag } from './args';
import type { Sample } from './delivery-harness';
import { Server, mqttClient, openMany, paced, payload, settle, sseClient, wsClient } from './delivery-harness';
import { peers } from './delivery-peers';
import type { Stats } from './latency-stats';
import { ms, stats } from './latency-stats';

const SECONDS = numberFlag('seconds', 10);
const FLOOD = numberFlag('flood', 100_000);
const FANOUT = numberFlag('fanout', 1000);
const IDLE = numberFlag('idle', 5000);
const ONLY = listFlag('only', ['latency', 'flood', 'fanout', 'memory', 'peers']);

const row = (name: string, s: Stats, expected?: number): string =>
  `| ${name} | ${s.count}${expected === undefined ? '' : ` of ${expected}`} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} |`;

async function latency(): Promise<void> {
  console.log('### Latency, MQTT publish to receipt (one client each; first second dropped as warm-up)\n');
  console.log('| rate | path | received | p50 | p99 | max |\n|---|---|---|---|---|---|');
  for (const rate of [1000, 10_000]) {
    const server = await Server.start();
    const samples = { ws: [] as number[], sse: [] as number[], broker: [] as number[] };
    const counts = { ws: 0, sse: 0, broker: 0 };
    const record = (path: keyof typeof samples) => (s: Sample) => {
      counts[path]++;
      if (s.seq >= rate) samples[path].push(performance.now() - s.t);
    };
    const ws = await wsClient(`${server.url.replace('http', 'ws')}/ws/iot/bench/`, record('ws'));
    const sse = await sseClient(`${server.url}/iot/stream/bench/`, record('sse'));
    const bare = await mqttClient(server.mqttUrl, 'bare');
    bare.on('message', (_topic, payload: Buffer) => record('broker')(JSON.parse(payload.toString()) as Sample));
    await bare.subscribeAsync('things/bench/+/data', { qos: 0 });
    const publisher = await mqttClient(server.mqttUrl, 'pub');
    const sent = await paced(publisher, 'things/bench/b-1/data', rate, SECONDS);
    await settle(
      () => counts.ws + counts.sse,
      () => counts.ws >= sent && counts.sse >= sent,
    );
    for (const path of ['broker', 'ws', 'sse'] as const) {
      const s = stats(samples[path]);
      const label = path === 'broker' ? 'bare broker (MQTT subscriber)' : path === 'ws' ? 'WebSocket' : 'SSE';
      console.log(`| ${rate}/s | ${label} | ${counts[path]}/${sent} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} |`);
    }
    ws.close();
    sse.destroy();
    await publisher.endAsync();
    await bare.endAsync();
    await server.stop();
  }
  console.log('\nTargets: p99 <= 5 ms at 1,000 msg/s, <= 20 ms at 10,000 msg/s.\n');
}

async function flood(): Promise<void> {
  const server = await Server.start();
  let received = 0;
  let bareReceived = 0;
  let lastAt = 0;
  let bareLastAt = 0;
  const ws = await wsClient(`${server.url.replace('http', 'ws')}/ws/iot/flood/`, () => {
    received++;
    lastAt = performance.now();
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const bare = await mqttClient(server.mqttUrl, 'flood-bare');
  bare.on('message', () => {
    bareReceived++;
    bareLastAt = performance.now();
  });
  await bare.subscribeAsync('things/flood/+/data', { qos: 0 });
  const publisher = await mqttClient(server.mqttUrl, 'flood-pub');
  const start = performance.now();
  for (let i = 0; i < FLOOD; i++) {
    publisher.publish('things/flood/f-1/data', payload(i), { qos: 0 });
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  const published = performance.now() - start;
  await settle(
    () => received + bareReceived,
    () => received >= FLOOD && bareReceived >= FLOOD,
  );
  const wsCode = await Promise.race([closed, new Promise<undefined>((resolve) => setTimeout(resolve, 10, undefined))]);
  const rate = (count: number, until: number): string => `${Math.round(count / ((until - start) / 1000))} msg/s`;
  console.log(`### Flood: ${FLOOD} messages at full speed (QoS 0), one WebSocket subscriber\n`);
  console.log('| path | delivered | share | rate (first publish to last receipt) |\n|---|---|---|---|');
  console.log(`| publisher | ${FLOOD} sent | | ${rate(FLOOD, start + published)} |`);
  console.log(
    `| bare broker (MQTT subscriber) | ${bareReceived} | ${((100 * bareReceived) / FLOOD).toFixed(1)}% | ${rate(bareReceived, bareLastAt)} |`,
  );
  console.log(`| WebSocket | ${received} | ${((100 * received) / FLOOD).toFixed(1)}% | ${rate(received, lastAt)} |`);
  console.log(
    `\n${wsCode === undefined ? 'The WebSocket stayed open.' : `The WebSocket was closed with ${wsCode}.`} Target: 100% at >= 30,000 msg/s.\n`,
  );
  ws.close();
  await publisher.endAsync();
  await bare.endAsync();
  await server.stop();
}

async function fanout(): Promise<void> {
  const server = await Server.start();
  const samples = { ws: [] as number[], sse: [] as number[], broker: [] as number[] };
  const record = (path: keyof typeof samples) => (s: Sample) => samples[path].push(performance.now() - s.t);
  const wsUrl = `${server.url.replace('http', 'ws')}/ws/iot/fan/`;
  const sockets = await openMany(FANOUT, () => wsClient(wsUrl, record('ws')));
  const streams = await openMany(FANOUT, () => sseClient(`${server.url}/iot/stream/fan/`, record('sse')));
  const bare = await mqttClient(server.mqttUrl, 'fan-bare');
  bare.on('message', (_topic, payload: Buffer) => record('broker')(JSON.parse(payload.toString()) as Sample));
  await bare.subscribeAsync('things/fan/+/data', { qos: 0 });
  const publisher = await mqttClient(server.mqttUrl, 'fan-pub');
  const sent = await paced(publisher, 'things/fan/f-1/data', 10, SECONDS);
  await settle(
    () => samples.ws.length + samples.sse.length,
    () => samples.ws.length >= sent * FANOUT && samples.sse.length >= sent * FANOUT,
  );
  console.log(`### Fan-out: ${FANOUT} WebSocket + ${FANOUT} SSE clients, 10 msg/s each, ${SECONDS} s\n`);
  console.log('| path | deliveries | p50 | p99 | max |\n|---|---|---|---|---|');
  console.log(row('bare broker (one MQTT subscriber)', stats(samples.broker)));
  console.log(row('WebSocket', stats(samples.ws), sent * FANOUT));
  console.log(row('SSE', stats(samples.sse), sent * FANOUT));
  console.log(row('all web clients', stats([...samples.ws, ...samples.sse])));
  console.log('\nTarget: p99 <= 50 ms.\n');
  sockets.forEach((s) => s.terminate());
  streams.forEach((s) => s.destroy());
  await publisher.endAsync();
  await bare.endAsync();
  await server.stop();
}

async function memory(): Promise<void> {
  const server = await Server.start();
  const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
  // Warm the paths once so their code and caches are not counted as per-connection cost.
  const warm = await openMany(50, () => wsClient(`${server.url.replace('http', 'ws')}/ws/iot/idle/`, () => undefined));
  const warmSse = await openMany(50, () => sseClient(`${server.url}/iot/stream/idle/`, () => undefined));
  const base = await server.memory();
  const sockets = await openMany(IDLE, () =>
    wsClient(`${server.url.replace('http', 'ws')}/ws/iot/idle/`, () => undefined),
  );
  const afterWs = await server.memory();
  const streams = await openMany(IDLE, () => sseClient(`${server.url}/iot/stream/idle/`, () => undefined));
  const afterSse = await server.memory();
  console.log(`### Memory per idle connection (server RSS and heap after GC)\n`);
  console.log('| connections | RSS growth | per connection | heap growth | per connection |\n|---|---|---|---|---|');
  console.log(
    `| ${IDLE} WebSocket | ${kb(afterWs.rss - base.rss)} | ${kb((afterWs.rss - base.rss) / IDLE)} | ${kb(afterWs.heapUsed - base.heapUsed)} | ${kb((afterWs.heapUsed - base.heapUsed) / IDLE)} |`,
  );
  console.log(
    `| ${IDLE} SSE | ${kb(afterSse.rss - afterWs.rss)} | ${kb((afterSse.rss - afterWs.rss) / IDLE)} | ${kb(afterSse.heapUsed - afterWs.heapUsed)} | ${kb((afterSse.heapUsed - afterWs.heapUsed) / IDLE)} |`,
  );
  console.log('\nTarget: <= 30 KB per idle connection.\n');
  [...warm, ...sockets].forEach((s) => s.terminate());
  [...warmSse, ...streams].forEach((s) => s.destroy());
  await server.stop();
}

async function main(): Promise<void> {
  const phases: Record<string, () => Promise<void>> = { latency, flood, fanout, memory, peers };
  for (const name of ONLY) {
    const phase = phases[name];
    if (phase === undefined) throw new Error(`no phase ${name}; there are ${Object.keys(phases).join(', ')}`);
    await phase();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

/**
 * Ingest benchmark (issue #2): COUNT data messages (~100 bytes, QoS 0) from
 * one MQTT.js publisher at full speed, timed until every event is in the log,
 * against the broker's bare publish-to-subscribe rate with the same client in
 * the same run. SQLite always; PostgreSQL too when DATABASE_URL is postgres://
 * (each run gets a fresh database, dropped afterwards).
 *
 *   npx ts-node --transpile-only bench/ingest.ts [--count 100000] [--soak SECONDS] [--rate 5000] [--only sqlite|postgres] [--message-ids]
 *     [--qos1 50000] [--rounds 3] [--device-window 10] [--gateway-window 1000]
 *
 * `--qos1` messages at QoS 1 (0 skips): 100 devices, then one gateway, each
 * timed until the last PUBACK (after the commit), against the bare broker
 * (bench/ingest-qos1.ts), `--rounds` times in turn; the verdict is the
 * median of the rounds' ratios (for an even count, the upper of the two middle ones).
 *
 * `--signalling` messages (default: as `--qos1`; 0 skips) from devices that
 * speak the signalling protocol (issue #15): 100 SDK SignallingClients with
 * device tokens, `--device-window` publishes unacknowledged each, timed to
 * the last ack (after the commit), against the MQTT QoS 1 devices workload
 * of the same run (bench/ingest-signalling.ts).
 *
 * `--message-ids` puts a distinct `message_id` in every payload: the price
 * of the log's look-up of redelivered messages (issue #11).
 *
 * `--soak 300` adds the memory check: `--rate` msg/s for that long, heap and
 * RSS sampled (after a GC; `npm run bench` passes --expose-gc) every tenth
 * of the run. Flat means the heap grew at most FLAT_HEAP_MB over the second
 * half; the script exits 1 when it did not, or when a message was lost.
 * Targets: nothing lost; bridge >= 60% of the bare rate; memory flat.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { DataSource } from 'typeorm';
import { startApp } from '../src/app';
import type { RunningApp } from '../src/app';
import { EventBusService } from '../src/bus/event-bus.service';
import { EventRecord } from '../src/bus/event-record.entity';
import { loadConfig } from '../src/config/load-config';
import { MqttTransport } from '../src/mqtt/mqtt-transport';
import { loadavg } from 'node:os';
import { DEVICES, bareQos1, publishQos1, workloads } from './ingest-qos1';
import { SIGNALLING_TYPE, publishSignalling } from './ingest-signalling';
import { hasFlag, numberFlag, stringFlag } from './args';
import { freshPostgres } from './fresh-postgres';
import { stats } from './latency-stats';

const COUNT = numberFlag('count', 100_000);
const SOAK_SEC = numberFlag('soak', 0);
const SOAK_RATE = numberFlag('rate', 5000);
const ONLY = stringFlag('only');
const MESSAGE_IDS = hasFlag('message-ids');
const QOS1_COUNT = numberFlag('qos1', 50_000);
const QOS1_ROUNDS = Math.max(1, Math.trunc(numberFlag('rounds', 3)));
const DEVICE_WINDOW = numberFlag('device-window', 10);
const QOS1 = workloads(DEVICE_WINDOW, numberFlag('gateway-window', 1000));
const SIGNALLING_COUNT = numberFlag('signalling', QOS1_COUNT);
/** How long the log may take to catch up after the last message before the rest count as lost. */
const SETTLE_MS = 120_000;
/** Heap growth over the second half of a soak that still counts as flat. */
const FLAT_HEAP_MB = 10;

/** ~100 bytes as JSON, like a small weather station sample. */
function reading(i: number): object {
  return {
    temperature: 20 + (i % 100) / 10,
    humidity: 40 + (i % 50),
    pressure: 1013.25,
    seq: i,
    battery: 87.5,
    ...(MESSAGE_IDS ? { message_id: `m-${i}` } : {}),
  };
}

function payload(i: number): string {
  return JSON.stringify(reading(i));
}

/** Waits until `check` holds or the deadline passes; says which. */
async function settle(check: () => boolean, timeoutMs = SETTLE_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

async function publishAll(client: mqtt.MqttClient, topicOf: (i: number) => string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    // MQTT.js queues into the socket; yield now and then so the event loop can drain it.
    client.publish(topicOf(i), payload(i), { qos: 0 });
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The broker alone: the same publisher loop, to a plain subscriber, outside the bridge's topics. */
async function bare(url: string): Promise<{ rate: number; received: number }> {
  const sub = await mqtt.connectAsync(url, { clientId: `bench-sub-${process.pid}` });
  const pub = await mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}` });
  let received = 0;
  sub.on('message', () => received++);
  await sub.subscribeAsync('bare/#', { qos: 0 });
  const started = performance.now();
  await publishAll(pub, (i) => `bare/bench/dev-${i % 100}/data`, COUNT);
  await settle(() => received >= COUNT);
  const rate = received / ((performance.now() - started) / 1000);
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  return { rate, received };
}

/** Events of one device type in the log, counted in the database itself. */
function logged(app: RunningApp, deviceType: string, event?: string): Promise<number> {
  return app.app
    .get(DataSource)
    .getRepository(EventRecord)
    .countBy(event === undefined ? { deviceType } : { deviceType, event });
}

async function ingest(app: RunningApp, url: string): Promise<{ rate: number; logged: number }> {
  const bus = app.app.get(EventBusService);
  const before = bus.stats.events;
  const pub = await mqtt.connectAsync(url, { clientId: `bench-ingest-${process.pid}` });
  const started = performance.now();
  await publishAll(pub, (i) => `things/bench/dev-${i % 100}/data`, COUNT);
  await settle(() => bus.stats.events - before >= COUNT);
  const rate = (bus.stats.events - before) / ((performance.now() - started) / 1000);
  await pub.endAsync();
  return { rate, logged: await logged(app, 'bench') };
}

/**
 * One QoS 1 workload, bare broker then bridge, `QOS1_ROUNDS` times in turn (the bare broker's figure swings
 * from one run to the next on a shared machine, so the verdict is the median of the pairs' ratios); adds a
 * row to the QoS 1 table and answers the bridge's median rate.
 */
async function qos1(
  app: RunningApp,
  url: string,
  label: string,
  workload: (typeof QOS1)[number],
): Promise<{ ok: boolean; rate: number }> {
  const type = workload.topic('', 0, 0).split('/')[1];
  const brokers: number[] = [];
  const bridges: number[] = [];
  let lost = 0;
  for (let round = 0; round < QOS1_ROUNDS; round++) {
    brokers.push(await bareQos1(url, workload, QOS1_COUNT, payload));
    const before = await logged(app, type);
    const bridge = await publishQos1(url, workload, 'things', QOS1_COUNT, payload);
    // Acknowledged means written: every PUBACK the publishers got is an event in the log already.
    lost += QOS1_COUNT - ((await logged(app, type)) - before);
    bridges.push(QOS1_COUNT / bridge.seconds);
  }
  const ratios = bridges.map((rate, i) => rate / brokers[i]);
  const each = (values: number[], show: (v: number) => string): string => values.map(show).join(' / ');
  const msgs = (v: number): string => `${Math.round(v)}`;
  const percent = (v: number): string => `${(v * 100).toFixed(0)}%`;
  const ratioCell =
    QOS1_ROUNDS === 1 ? percent(ratios[0]) : `${each(ratios, percent)}; median ${percent(stats(ratios).p50)}`;
  qos1Rows.push(
    `| ${label} | ${workload.name} | ${QOS1_COUNT} | ${each(brokers, msgs)} msg/s | ${each(bridges, msgs)} msg/s | ` +
      `${ratioCell} | ${lost === 0 ? 'none' : `${lost} not in the log at the last PUBACK`} |`,
  );
  return { ok: lost === 0, rate: stats(bridges).p50 };
}

const qos1Rows: string[] = [];

/** The signalling devices against MQTT QoS 1's devices workload of the same run (`mqttRate`); adds a row. */
async function signalling(app: RunningApp, label: string, mqttRate: number | undefined): Promise<boolean> {
  const before = await logged(app, SIGNALLING_TYPE, 'data');
  const run = await publishSignalling(app, DEVICES, DEVICE_WINDOW, SIGNALLING_COUNT, reading);
  // Data events only: the devices' connections add status events of their own.
  const inLog = (await logged(app, SIGNALLING_TYPE, 'data')) - before;
  const rate = SIGNALLING_COUNT / run.seconds;
  const lost = SIGNALLING_COUNT - inLog;
  const near = rate > 0.9 * run.ceiling ? ` (near the protocol's ${run.ceiling} msg/s for ${DEVICES} connections)` : '';
  signallingRows.push(
    `| ${label} | ${DEVICES} devices, ${DEVICE_WINDOW} in flight each | ${SIGNALLING_COUNT} | ` +
      `${mqttRate === undefined ? '—' : `${Math.round(mqttRate)} msg/s`} | ${Math.round(rate)} msg/s${near} | ` +
      `${mqttRate === undefined ? '—' : `${((rate / mqttRate) * 100).toFixed(0)}%`} | ` +
      `${lost === 0 ? 'none' : `${lost} not in the log at the last ack`} |`,
  );
  return lost === 0;
}
const signallingRows: string[] = [];

interface Sample {
  at: number;
  sent: number;
  rssMb: number;
  heapMb: number;
}

function sample(at: number, sent: number): Sample {
  global.gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { at, sent, rssMb: rss / 1048576, heapMb: heapUsed / 1048576 };
}

/** SOAK_RATE msg/s for SOAK_SEC s; true when memory stayed flat and nothing was lost. */
async function soak(app: RunningApp, url: string, label: string): Promise<boolean> {
  const pub = await mqtt.connectAsync(url, { clientId: `bench-soak-${process.pid}` });
  const samples: Sample[] = [];
  const every = (SOAK_SEC * 1000) / 10;
  const started = Date.now();
  let sent = 0;
  let nextSample = started;
  for (let elapsed = 0; elapsed < SOAK_SEC * 1000; elapsed = Date.now() - started) {
    const due = Math.floor((elapsed / 1000) * SOAK_RATE);
    for (; sent < due; sent++) pub.publish(`things/soak/dev-${sent % 100}/data`, payload(sent), { qos: 0 });
    if (Date.now() >= nextSample) {
      samples.push(sample(elapsed, sent));
      nextSample += every;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  samples.push(sample(Date.now() - started, sent));
  await pub.endAsync();
  const total = sent;
  let inLog = await logged(app, 'soak');
  for (const deadline = Date.now() + SETTLE_MS; inLog < total && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    inLog = await logged(app, 'soak');
  }
  const drained = sample(Date.now() - started, total);

  console.log(`\nSoak (${label}): ${SOAK_RATE} msg/s for ${SOAK_SEC} s\n`);
  console.log('| elapsed | sent | RSS | heap used |\n|---|---|---|---|');
  for (const s of [...samples, drained])
    console.log(
      `| ${(s.at / 1000).toFixed(SOAK_SEC < 100 ? 1 : 0)} s${s === drained ? ' (drained)' : ''} | ${s.sent} | ${s.rssMb.toFixed(1)} MB | ${s.heapMb.toFixed(1)} MB |`,
    );
  // Warm-up (JIT, caches, write queues filling to their steady size) is over by half-time;
  // a leak keeps growing through the second half, a steady state does not.
  const mid = samples[Math.floor(samples.length / 2)];
  const end = samples[samples.length - 1];
  const heapGrowth = end.heapMb - mid.heapMb;
  const flat = heapGrowth <= FLAT_HEAP_MB;
  const lost = total - inLog;
  const signed = (mb: number): string => `${mb >= 0 ? '+' : ''}${mb.toFixed(1)} MB`;
  console.log(
    `\nSecond half (${Math.round(mid.at / 1000)} s to ${Math.round(end.at / 1000)} s): heap ${signed(heapGrowth)}, ` +
      `RSS ${signed(end.rssMb - mid.rssMb)}: ${flat ? 'flat' : `NOT flat (over ${FLAT_HEAP_MB} MB)`}. ` +
      `${total} sent, ${inLog} in the log: ${lost === 0 ? 'nothing lost' : `${lost} LOST`}.\n`,
  );
  return flat && lost === 0;
}

async function run(label: string, postgresUrl: string | undefined): Promise<boolean> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dhb-bench-'));
  const pg = postgresUrl === undefined ? undefined : await freshPostgres(postgresUrl);
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: pg?.url ?? `sqlite:${join(dataDir, 'bench.sqlite')}`,
    DEVICE_AUTH: 'off',
    AUTH: 'off',
    LOG_LEVEL: 'warn',
    ...(process.env.SQLITE_SYNCHRONOUS ? { SQLITE_SYNCHRONOUS: process.env.SQLITE_SYNCHRONOUS } : {}),
  });
  const app = await startApp(config);
  const url = app.app.get(MqttTransport).describe().tcp as string;
  let ok = true;
  try {
    if (COUNT > 0) {
      const broker = await bare(url);
      const bridge = await ingest(app, url);
      const lost = COUNT - bridge.logged;
      ok = lost === 0;
      console.log(
        `| ${label} | ${COUNT} | ${Math.round(broker.rate)} msg/s${broker.received < COUNT ? ` (${COUNT - broker.received} lost)` : ''} | ` +
          `${Math.round(bridge.rate)} msg/s | ${((bridge.rate / broker.rate) * 100).toFixed(0)}% | ${lost === 0 ? 'none' : `${lost} LOST`} |`,
      );
    }
    let mqttDevicesRate: number | undefined;
    for (const workload of QOS1_COUNT > 0 ? QOS1 : []) {
      const result = await qos1(app, url, label, workload);
      mqttDevicesRate ??= result.rate;
      ok = result.ok && ok;
    }
    if (SIGNALLING_COUNT > 0) ok = (await signalling(app, label, mqttDevicesRate)) && ok;
    if (SOAK_SEC > 0) ok = (await soak(app, url, label)) && ok;
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
    await pg?.drop();
  }
  return ok;
}

async function main(): Promise<boolean> {
  const postgres = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : undefined;
  const backends: [string, string | undefined][] = [];
  if (ONLY !== 'postgres') backends.push(['SQLite', undefined]);
  if (ONLY !== 'sqlite') {
    if (postgres) backends.push(['PostgreSQL', postgres]);
    else console.log('PostgreSQL: set DATABASE_URL=postgres://… to measure it too.\n');
  }
  if (COUNT > 0) {
    const ids = MESSAGE_IDS ? ', each with a message_id' : '';
    console.log(`Ingest: ${COUNT} data messages (~100 bytes, QoS 0${ids}), one MQTT.js publisher, embedded broker\n`);
    console.log('| log | messages | bare broker (pub→sub) | bridge (pub→in log) | ratio | lost |');
    console.log('|---|---|---|---|---|---|');
  }
  let ok = true;
  for (const [label, url] of backends) ok = (await run(label, url)) && ok;
  if (qos1Rows.length > 0) {
    console.log(
      `\nQoS 1, acknowledged after commit: ${QOS1_COUNT} messages per workload, embedded broker, timed to the last PUBACK; ` +
        `${QOS1_ROUNDS} rounds of bare broker then bridge, in turn\n`,
    );
    console.log(
      '| log | publishers | messages | bare broker (pub→PUBACK, to a QoS 1 subscriber) | bridge (pub→PUBACK = in the log) | ratio | not logged |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const row of qos1Rows) console.log(row);
  }
  if (signallingRows.length > 0) {
    console.log(
      `\nSignalling devices (issue #15), acknowledged after commit: ${SIGNALLING_COUNT} messages, SDK clients over /v1, timed to the last ack\n`,
    );
    console.log(
      '| log | publishers | messages | MQTT QoS 1, same workload | signalling (ack = in the log) | ratio | not logged |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const row of signallingRows) console.log(row);
  }
  console.log(
    `\nLoad average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`,
  );
  return ok;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

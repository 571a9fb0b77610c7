/**
 * Cross-instance latency benchmark (issue #5).
 *
 *   MQTT_URL=mqtt://127.0.0.1:1883 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *   REDIS_URL=redis://127.0.0.1:6379 npm run bench -- cluster [--rate 5000] [--seconds 10]
 *
 * End-to-end latency, MQTT publish to WebSocket receipt, at `--rate` msg/s
 * (QoS 0), in one run:
 *
 * 1. a single instance (no REDIS_URL) and a client on it;
 * 2. two instances on one PostgreSQL log and one Redis, where only A
 *    ingests (B subscribes to another topic prefix, so no message of the
 *    run is handed to it) and a client on each: B's client is on the
 *    instance that did not ingest the message (Redis fan-out, ordered merge).
 *
 * Target: the cross-instance path (B) adds at most 2 ms at p99 over the
 * single instance. Each phase starts fresh instances (child processes running
 * src/main.ts) on a database of its own, dropped at the end; the first second
 * of each phase is dropped as warm-up. Loopback only; bounded in count and time.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Client } from 'pg';
import WebSocket from 'ws';
import type { Stats } from './latency-stats';
import { ms, stats } from './latency-stats';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const RATE = flag('rate', 5000);
const SECONDS = flag('seconds', 10);
const TARGET_MS = 2;
const PAD = 'x'.repeat(48);
const { MQTT_URL, DATABASE_URL, REDIS_URL } = process.env;
/** The whole benchmark stops by itself after this, whatever happens. */
const HARD_LIMIT_MS = (2 * SECONDS + 180) * 1000;

const children = new Set<ChildProcessWithoutNullStreams>();

/** One bridge instance as `npm start` runs it; resolves with its HTTP URL once it listens. */
async function instance(env: Record<string, string>): Promise<{ url: string; stop: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dhb-bench-cluster-'));
  const root = join(__dirname, '..');
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(root, 'src', 'main.ts')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      AUTH: 'off',
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      ...env,
    },
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance not up in 60 s:\n${output}`)), 60_000);
    const look = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /HTTP\s+(http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    void exited.then(() => reject(new Error(`instance exited before it listened:\n${output}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      children.delete(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A database of its own for a phase. */
async function database(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `dhb_bench_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const c = new Client({ connectionString: DATABASE_URL });
    await c.connect();
    await c.query(sql);
    await c.end();
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(DATABASE_URL as string);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** A WebSocket client recording the latency of each event past the warm-up. */
async function client(url: string, samples: number[], counter: { n: number }): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/iot/bench/`);
  ws.on('message', (data: Buffer) => {
    const now = performance.now();
    const event = JSON.parse(data.toString('utf8')) as { data?: { t?: number; seq?: number } };
    if (event.data?.t === undefined) return;
    counter.n++;
    if ((event.data.seq ?? 0) >= RATE) samples.push(now - event.data.t);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

/** Publishes `{t, seq, pad}` at RATE msg/s for SECONDS, QoS 0; returns how many went. */
async function paced(publisher: mqtt.MqttClient, topic: string): Promise<number> {
  const start = performance.now();
  const total = Math.round(RATE * SECONDS);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE) + 1);
    while (sent < due) publisher.publish(topic, JSON.stringify({ t: performance.now(), seq: sent++, pad: PAD }));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return sent;
}

/** Waits until every client has `sent` events, or nothing has moved for 5 s. */
async function settle(counters: { n: number }[], sent: number): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  while (counters.some((c) => c.n < sent) && Date.now() - lastChange < 5000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const total = counters.reduce((sum, c) => sum + c.n, 0);
    if (total !== last) [last, lastChange] = [total, Date.now()];
  }
}

/** One phase: instances up, clients on the chosen ones, publish, measure, everything down. */
async function phase(envs: Record<string, string>[], measuredOn: number[], prefix: string): Promise<Stats[]> {
  const db = await database();
  const started: Awaited<ReturnType<typeof instance>>[] = [];
  const sockets: WebSocket[] = [];
  const publisher = await mqtt.connectAsync(MQTT_URL as string, {
    clientId: `bench-cluster-${randomBytes(3).toString('hex')}`,
  });
  try {
    // The first instance runs the migrations; the others start on a ready schema.
    for (const env of envs) started.push(await instance({ ...env, DATABASE_URL: db.url }));
    const samples = measuredOn.map(() => [] as number[]);
    const counters = measuredOn.map(() => ({ n: 0 }));
    for (const [k, i] of measuredOn.entries()) sockets.push(await client(started[i].url, samples[k], counters[k]));
    const sent = await paced(publisher, `${prefix}/bench/b-1/data`);
    await settle(counters, sent);
    return samples.map((s, k) => ({ ...stats(s), count: counters[k].n }));
  } finally {
    sockets.forEach((s) => s.close());
    await publisher.endAsync();
    for (const s of started.reverse()) await s.stop();
    await db.drop();
  }
}

function loopbackOnly(): string | undefined {
  for (const [name, value] of Object.entries({ MQTT_URL, DATABASE_URL, REDIS_URL })) {
    if (!value) return `needs ${name} (MQTT_URL, DATABASE_URL=postgres://…, REDIS_URL)`;
    const host = new URL(value).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host))
      return `${name} must point at loopback, not ${host}`;
  }
  if (!DATABASE_URL?.startsWith('postgres')) return 'DATABASE_URL must be postgres://…';
  return undefined;
}

async function main(): Promise<void> {
  const problem = loopbackOnly();
  if (problem) {
    console.log(`Skipped: bench/cluster.ts ${problem}.`);
    return;
  }
  const tag = randomBytes(3).toString('hex');
  const secrets = { ADMIN_TOKEN: `adm_${tag}`, JWT_SECRET: `jwt_${tag}_${randomBytes(8).toString('hex')}` };
  const broker = { MQTT_URL: MQTT_URL as string, ...secrets };
  console.log(
    `### Cross-instance latency: MQTT publish to WebSocket receipt, ${RATE} msg/s for ${SECONDS} s (QoS 0)\n`,
  );

  // Each instance in a share group of its own: a unique MQTT client id and a clean session (alone, with
  // PORT=0, two instances on one host would share one client id and keep taking the session from each other).
  const single = `bs${tag}`;
  const [alone] = await phase([{ ...broker, TOPIC_PREFIX: single, MQTT_SHARE_GROUP: `gs${tag}` }], [0], single);

  const prefix = `bc${tag}`;
  const clustered = { ...broker, REDIS_URL: REDIS_URL as string };
  const [ingesting, other] = await phase(
    // B listens on a prefix nothing is published to: every message of the run is ingested by A.
    [
      { ...clustered, TOPIC_PREFIX: prefix, MQTT_SHARE_GROUP: `ga${tag}` },
      { ...clustered, TOPIC_PREFIX: `${prefix}x`, MQTT_SHARE_GROUP: `gb${tag}` },
    ],
    [0, 1],
    prefix,
  );

  const expected = Math.round(RATE * SECONDS);
  console.log('| path | received | p50 | p99 | max |\n|---|---|---|---|---|');
  const row = (name: string, s: Stats): void =>
    console.log(`| ${name} | ${s.count}/${expected} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} |`);
  row('single instance', alone);
  row('cluster, client on the ingesting instance', ingesting);
  row('cluster, client on the other instance', other);
  const added = other.p99 - alone.p99;
  const complete = [alone, ingesting, other].every((s) => s.count >= expected);
  console.log(
    `\nThe cross-instance path adds ${ms(added)} at p99 over a single instance (${ms(other.p99 - ingesting.p99)} over the ingesting instance). ` +
      `Target (<= ${TARGET_MS} ms at p99, nothing lost): ${added <= TARGET_MS && complete ? 'met' : 'MISSED'}.\n`,
  );
}

const deadline = setTimeout(() => {
  console.error(`bench/cluster.ts: over ${HARD_LIMIT_MS / 1000} s, stopping`);
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
}, HARD_LIMIT_MS);
deadline.unref();

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  },
);

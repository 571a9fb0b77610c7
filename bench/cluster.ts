/**
 * Several instances (issues #5, #12): what one share group costs, in one run.
 *
 *   MQTT_URL=mqtt://127.0.0.1:1883 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *   REDIS_URL=redis://127.0.0.1:6379 npm run bench -- cluster [--rate 5000] [--seconds 10]
 *
 * Three phases, each on fresh instances (child processes running
 * src/main.ts) and a database of its own, dropped at the end; a publisher at
 * `--rate` msg/s (QoS 0) on one device's topic and a WebSocket client on
 * every instance:
 *
 * 1. one instance alone (no REDIS_URL);
 * 2. two instances in one share group (`MQTT_INGEST=lease`, the default):
 *    one ingests, the other stands by and serves its client from Redis;
 * 3. three instances, likewise.
 *
 * Printed per instance: whether it ingests, its CPU time and the bytes it
 * read (all its sockets: MQTT, PostgreSQL, Redis, from /proc/PID/io `rchar`)
 * per 1,000 messages, each against the single instance's; and the latency,
 * MQTT publish to WebSocket receipt, on every instance (the first second
 * dropped as warm-up). Target (issue #5): the cross-instance path adds at
 * most 2 ms at p99. Loopback only; bounded in count and time.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { Stats } from './latency-stats';
import { ms, stats } from './latency-stats';
import { numberFlag } from './args';
import { freshPostgres } from './fresh-postgres';

const RATE = numberFlag('rate', 5000);
const SECONDS = numberFlag('seconds', 10);
const TARGET_MS = 2;
const PAD = 'x'.repeat(48);
const { MQTT_URL, DATABASE_URL, REDIS_URL } = process.env;
/** The whole benchmark stops by itself after this, whatever happens. */
const HARD_LIMIT_MS = (3 * SECONDS + 300) * 1000;

const children = new Set<ChildProcessWithoutNullStreams>();

/** One bridge instance as `npm start` runs it; resolves with its HTTP URL once it listens. */
interface Running {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

async function instance(env: Record<string, string>): Promise<Running> {
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
    pid: child.pid ?? 0,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      children.delete(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
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

/** CPU time (ms) and bytes read so far by a process: /proc/PID/stat utime + stime, /proc/PID/io rchar. */
function usage(pid: number): { cpuMs: number; readBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rchar = /rchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return { cpuMs: (ticks * 1000) / 100, readBytes: Number(rchar?.[1] ?? 0) };
}

interface InstanceFigures {
  ingesting: boolean;
  latency: Stats;
  cpuMsPer1000: number;
  readBytesPerMessage: number;
}

/** One phase: instances up, a client on each, publish, measure, everything down. */
async function phase(envs: Record<string, string>[], prefix: string): Promise<InstanceFigures[]> {
  const db = await freshPostgres(DATABASE_URL as string);
  const started: Running[] = [];
  const sockets: WebSocket[] = [];
  const publisher = await mqtt.connectAsync(MQTT_URL as string, {
    clientId: `bench-cluster-${randomBytes(3).toString('hex')}`,
  });
  try {
    // The first instance runs the migrations; the others start on a ready schema.
    for (const env of envs) started.push(await instance({ ...env, DATABASE_URL: db.url }));
    // Wait until one instance ingests (a share group's lease is taken within a second).
    const ingesting = await whoIngests(started);
    const samples = started.map(() => [] as number[]);
    const counters = started.map(() => ({ n: 0 }));
    for (const [k, s] of started.entries()) sockets.push(await client(s.url, samples[k], counters[k]));
    const before = started.map((s) => usage(s.pid));
    const sent = await paced(publisher, `${prefix}/bench/b-1/data`);
    await settle(counters, sent);
    const after = started.map((s) => usage(s.pid));
    return started.map((_, k) => ({
      ingesting: ingesting[k],
      latency: { ...stats(samples[k]), count: counters[k].n },
      cpuMsPer1000: ((after[k].cpuMs - before[k].cpuMs) * 1000) / sent,
      readBytesPerMessage: (after[k].readBytes - before[k].readBytes) / sent,
    }));
  } finally {
    sockets.forEach((s) => s.close());
    await publisher.endAsync();
    for (const s of started.reverse()) await s.stop();
    await db.drop();
  }
}

/** Which instances say they ingest (/health), once exactly one does (or each, for a lone instance). */
async function whoIngests(started: Running[]): Promise<boolean[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answers = await Promise.all(
      started.map(async (s) => {
        const health = (await (await fetch(`${s.url}/health`)).json()) as {
          broker: { ingestion: { ingesting: boolean } };
        };
        return health.broker.ingestion.ingesting;
      }),
    );
    if (answers.filter(Boolean).length === 1 || Date.now() > deadline) return answers;
    await new Promise((resolve) => setTimeout(resolve, 100));
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
    `### Several instances: cost and latency, ${RATE} msg/s for ${SECONDS} s (QoS 0), load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );

  const alone = await phase([{ ...broker, TOPIC_PREFIX: `bs${tag}` }], `bs${tag}`);
  const clustered = { ...broker, REDIS_URL: REDIS_URL as string };
  const group = (name: string, n: number): Promise<InstanceFigures[]> =>
    phase(
      Array.from({ length: n }, () => ({ ...clustered, TOPIC_PREFIX: name, MQTT_SHARE_GROUP: `g${name}` })),
      name,
    );
  const two = await group(`b2${tag}`, 2);
  const three = await group(`b3${tag}`, 3);

  const expected = Math.round(RATE * SECONDS);
  const [single] = alone;
  console.log(
    '| setup | instance | ingests | received | p50 | p99 | CPU per 1,000 msg | vs alone | bytes read per msg | vs alone |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const rows = (setup: string, figures: InstanceFigures[]): void =>
    figures.forEach((f, k) =>
      console.log(
        `| ${setup} | ${String.fromCharCode(97 + k)} | ${f.ingesting ? 'yes' : 'no'} | ${f.latency.count}/${expected} | ${ms(f.latency.p50)} | ${ms(f.latency.p99)} | ${f.cpuMsPer1000.toFixed(0)} ms | ${(f.cpuMsPer1000 / single.cpuMsPer1000).toFixed(2)}x | ${f.readBytesPerMessage.toFixed(0)} B | ${(f.readBytesPerMessage / single.readBytesPerMessage).toFixed(2)}x |`,
      ),
    );
  rows('alone', alone);
  rows('2 instances', two);
  rows('3 instances', three);
  const others = [...two, ...three].filter((f) => !f.ingesting);
  const worst = Math.max(...others.map((f) => f.latency.p99));
  const complete = [...alone, ...two, ...three].every((f) => f.latency.count >= expected);
  const total = (figures: InstanceFigures[]): number => figures.reduce((n, f) => n + f.cpuMsPer1000, 0);
  console.log(
    `\nCluster CPU per 1,000 messages, all instances together: ${total(two).toFixed(0)} ms with 2 (${(total(two) / single.cpuMsPer1000).toFixed(2)}x alone), ${total(three).toFixed(0)} ms with 3 (${(total(three) / single.cpuMsPer1000).toFixed(2)}x).` +
      `\nThe cross-instance path (a client on an instance that does not ingest) adds ${ms(worst - single.latency.p99)} at p99 over a single instance. ` +
      `Target (<= ${TARGET_MS} ms at p99, nothing lost): ${worst - single.latency.p99 <= TARGET_MS && complete ? 'met' : 'MISSED'}.\n`,
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

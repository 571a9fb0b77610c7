/**
 * Data connectors benchmark (issue #16), against a webhook receiver in
 * this process on loopback (it verifies every signature):
 *
 * 1. Drain: COUNT events logged while the connector is paused, then resumed:
 *    events per second delivered (batch 100 and batch 1000).
 * 2. Lag: RATE msg/s of MQTT ingest (QoS 0) for SEC seconds, first with no
 *    connector (ingest alone), then with one connector delivering: the
 *    ingest rate achieved and the process CPU in both, and the connector's
 *    lag (events and seconds) sampled every 250 ms.
 *
 *   npx ts-node --transpile-only bench/connectors.ts [--count 50000] [--rate 5000] [--sec 10] [--only sqlite|postgres] [--all-types]
 *
 * SQLite; PostgreSQL too when DATABASE_URL is postgres://.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Client } from 'pg';
import { startApp } from '../src/app';
import type { RunningApp } from '../src/app';
import { EventBusService } from '../src/bus/event-bus.service';
import { loadConfig } from '../src/config/load-config';
import { ConnectorsService } from '../src/connectors/connectors.service';
import { verifySignature } from '../src/connectors/signature';
import { MqttTransport } from '../src/mqtt/mqtt-transport';
import { hasFlag, numberFlag, stringFlag } from './args';

const COUNT = numberFlag('count', 50_000);
const RATE = numberFlag('rate', 5000);
const SEC = numberFlag('sec', 10);
const only = stringFlag('only');
/** `--all-types`: the steady connector takes every event, not `data` only. */
const ALL_TYPES = hasFlag('all-types');
const SECRET = 'bench-secret-0123456789';

/** The receiver: counts events, checks each signature, answers 204. */
async function receiver(): Promise<{
  url: string;
  events: () => number;
  requests: () => number;
  bad: () => number;
  close: () => void;
}> {
  let events = 0;
  let bad = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      if (!verifySignature(SECRET, raw, req.headers['devicehub-signature'] as string, Date.now() / 1000)) bad++;
      events += (JSON.parse(raw) as { events: unknown[] }).events.length;
      requests++;
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    events: () => events,
    requests: () => requests,
    bad: () => bad,
    close: () => server.close(),
  };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check());) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function drain(app: RunningApp, url: string, batch: number): Promise<string> {
  const connectors = app.app.get(ConnectorsService);
  const bus = app.app.get(EventBusService);
  const name = `drain-${batch}`;
  await connectors.create({ name, url, batch_size: batch, paused: true, secret: SECRET });
  const now = new Date().toISOString();
  for (let i = 0; i < COUNT; i += 5000) {
    const events = Array.from({ length: Math.min(5000, COUNT - i) }, (_, k) => ({
      event: 'data',
      device_type: 'drain',
      device_id: `d-${k % 100}`,
      data: { temperature: 20 + (k % 100) / 10, humidity: 40 + (k % 50), seq: i + k },
      timestamp: now,
      received_at: now,
    }));
    await bus.publish(events);
  }
  const started = performance.now();
  await connectors.resume(name);
  await until(async () => (await connectors.get(name)).lag.events === 0);
  const seconds = (performance.now() - started) / 1000;
  await connectors.delete(name);
  return `| drain, batch ${batch} | ${COUNT} | ${Math.round(COUNT / seconds)} events/s | ${seconds.toFixed(2)} s |`;
}

/** RATE msg/s over MQTT for SEC s; the ingest rate achieved, CPU, and the connector's lag when there is one. */
async function steady(app: RunningApp, mqttUrl: string, connector?: string): Promise<string> {
  const connectors = app.app.get(ConnectorsService);
  const bus = app.app.get(EventBusService);
  const before = bus.stats.events;
  const pub = await mqtt.connectAsync(mqttUrl, { clientId: `bench-${randomBytes(3).toString('hex')}` });
  const lags: { events: number; seconds: number }[] = [];
  const sampler = setInterval(() => {
    if (connector) void connectors.get(connector).then((v) => lags.push(v.lag));
  }, 250);
  const cpu = process.cpuUsage();
  const started = Date.now();
  let sent = 0;
  for (let elapsed = 0; elapsed < SEC * 1000; elapsed = Date.now() - started) {
    for (const due = Math.floor((elapsed / 1000) * RATE); sent < due; sent++)
      pub.publish(`things/steady/dev-${sent % 100}/data`, JSON.stringify({ temperature: 21.5, seq: sent }), { qos: 0 });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await until(() => bus.stats.events - before >= sent, 60_000);
  const ingestSec = (Date.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  let caughtUp = 0;
  if (connector) {
    const t = Date.now();
    await until(async () => (await connectors.get(connector)).lag.events === 0);
    caughtUp = (Date.now() - t) / 1000;
  }
  clearInterval(sampler);
  await pub.endAsync();
  const cpuPct = ((used.user + used.system) / 1000 / (ingestSec * 1000)) * 100;
  const logged = `${Math.round(sent / ingestSec)} msg/s logged, CPU ${cpuPct.toFixed(0)}%`;
  if (!connector) return `| ingest alone | ${sent} | ${logged} | — | — |`;
  const sorted = (k: 'events' | 'seconds'): number[] => lags.map((l) => l[k]).sort((a, b) => a - b);
  const p = (xs: number[], q: number): number => xs[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? 0;
  const ev = sorted('events');
  const s = sorted('seconds');
  return (
    `| ingest + connector | ${sent} | ${logged} | p50 ${p(ev, 0.5)}, p99 ${p(ev, 0.99)}, max ${ev.at(-1) ?? 0} events; ` +
    `p50 ${p(s, 0.5).toFixed(3)} s, max ${(s.at(-1) ?? 0).toFixed(3)} s | ${caughtUp.toFixed(2)} s |`
  );
}

async function run(label: string, databaseUrl: string, dataDir: string): Promise<void> {
  const app = await startApp(
    loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      MQTT_PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      DEVICE_AUTH: 'off',
      LOG_LEVEL: 'warn',
      CONNECTORS_ALLOW_PRIVATE: 'true',
      CONNECTORS_LEASE_TTL: '15s',
    }),
  );
  const mqttUrl = app.app.get(MqttTransport).describe().tcp as string;
  const hook = await receiver();
  try {
    console.log(
      `\n### ${label} (load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(', ')})\n`,
    );
    console.log('| phase | events | delivered | time |\n|---|---|---|---|');
    for (const batch of [100, 1000]) console.log(await drain(app, hook.url, batch));
    console.log(
      `\n| ${RATE} msg/s for ${SEC} s | sent | ingest | connector lag (sampled every 250 ms) | catch-up after the last message |`,
    );
    console.log('|---|---|---|---|---|');
    console.log(await steady(app, mqttUrl));
    await app.app
      .get(ConnectorsService)
      .create({ name: 'steady', url: hook.url, secret: SECRET, ...(ALL_TYPES ? {} : { event_types: ['data'] }) });
    console.log(await steady(app, mqttUrl, 'steady'));
    console.log(
      `\nReceiver: ${hook.events()} events in ${hook.requests()} requests, ${hook.bad()} with a bad signature. Load average after: ${loadavg()[0].toFixed(2)}`,
    );
  } finally {
    hook.close();
    await app.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dhb-bench-connectors-'));
  try {
    if (only !== 'postgres') await run('SQLite', `sqlite:${join(dir, 'bench.sqlite')}`, dir);
    const pg = process.env.DATABASE_URL;
    if (pg?.startsWith('postgres') && only !== 'sqlite') {
      const name = `dhb_bench_${randomBytes(4).toString('hex')}`;
      const admin = new Client({ connectionString: pg });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      const url = new URL(pg);
      url.pathname = `/${name}`;
      try {
        await run('PostgreSQL', url.toString(), mkdtempSync(join(tmpdir(), 'dhb-bench-connectors-pg-')));
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

/**
 * Signalling benchmark (issue #4).
 *
 *   npm run bench -- signalling [--seconds 10] [--subscribers 1000] [--patterns 10,1000,10000]
 *
 * The defaults are the issue's figures; smaller values only check that it runs.
 *
 * 1. Publish-to-message latency: 1,000 WebSocket subscribers on one wildcard
 *    pattern (`bench/*\/telemetry`), one publisher at 10 messages/s, that is
 *    10,000 deliveries/s (target: p99 <= 20 ms); then 5x that rate for
 *    headroom. The server side is the real gateway and hub on a bare HTTP
 *    server (the publish path touches neither the database nor MQTT); the
 *    clients run in a worker thread so they do not share the server's core.
 * 2. Routing cost per message with 10, 1,000 and 10,000 distinct subscription
 *    patterns (exact, `*`, prefix globs and `**`, one subscriber each; every
 *    message matches one or two of them at every size): the trie index, the
 *    whole hub publish path (fake sockets), and a naive scan of every pattern
 *    for comparison (target: grows far slower than the pattern count).
 */
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { WebSocket } from 'ws';
import { TokenService } from '../src/auth/token.service';
import { RawWsServer } from '../src/common/gateway.adapter';
import { UpgradeRouter } from '../src/common/upgrade-router';
import type { AppConfig } from '../src/config/app-config';
import { ChannelCommandsService } from '../src/signalling/channel-commands.service';
import { DeviceChannelsService } from '../src/signalling/device-channels.service';
import { DeviceTypes } from '../src/config/device-types';
import { DEFAULT_JSON_LIMITS } from '../src/common/json-limits';
import { DeviceChannels } from '../src/devices/device-channels';
import type { DeviceIngestService } from '../src/devices/device-ingest.service';
import { DeviceRejects } from '../src/devices/device-rejects';
import { MetricsService } from '../src/observability/metrics.service';
import type { CommandsService } from '../src/devices/commands.service';
import { SignallingAuthService } from '../src/signalling/signalling-auth.service';
import { SignallingHubService } from '../src/signalling/signalling-hub.service';
import { LocalSignallingRelay } from '../src/signalling/signalling-relay';
import { SIGNALLING_PATH, SignallingGateway } from '../src/signalling/signalling.gateway';
import { listFlag, numberFlag } from './args';
import { routing } from './signalling-routing';

const SECONDS = numberFlag('seconds', 10);
const SUBSCRIBERS = numberFlag('subscribers', 1000);
const PATTERN_COUNTS = listFlag('patterns', ['10', '1000', '10000']).map(Number);
/** The issue's latency case: 1,000 subscribers at 10 messages/s. */
const TARGET_SUBSCRIBERS = 1000;

const config = {
  mqtt: { topicPrefix: 'things' },
  maxMessageSize: 65536,
  json: DEFAULT_JSON_LIMITS,
  // The default SEND_BUFFER_LIMIT (1 MiB), as a deployment runs it.
  delivery: { sendBufferBytes: 1024 * 1024 },
  auth: { jwtSecret: 'bench-secret', adminToken: 'bench-admin', required: true },
} as AppConfig;
/** No device commands in this benchmark: only `{prefix}/…/cmd` channels would reach it. */
const noCommands = new ChannelCommandsService(undefined as unknown as CommandsService);
/** No device channels either (bench/ingest.ts measures those, through the whole app). */
const noDevices = (): DeviceChannelsService =>
  new DeviceChannelsService(
    new DeviceChannels('things', []),
    undefined as unknown as DeviceIngestService,
    DeviceTypes.load(undefined),
    new DeviceRejects(),
    new MetricsService(),
  );

/** Client side, plain JavaScript in a worker: subscribers, one publisher, latency samples. */
const CLIENTS = `
const { parentPort, workerData } = require('node:worker_threads');
const WebSocket = require(workerData.wsPath);
const { url, tokens, publisherToken, phases } = workerData;

function open(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url + '/v1?token=' + token);
    ws.once('error', reject);
    ws.once('message', () => resolve(ws)); // welcome
  });
}

(async () => {
  let samples = new Float64Array(0);
  let received = 0;
  const subscribers = [];
  for (let i = 0; i < tokens.length; i += 100) {
    const batch = await Promise.all(tokens.slice(i, i + 100).map(open));
    subscribers.push(...batch);
  }
  await Promise.all(subscribers.map((ws) => new Promise((resolve) => {
    ws.once('message', resolve); // ack
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'bench/*/telemetry', requestId: 's' }));
  })));
  for (const ws of subscribers) {
    ws.on('message', (data) => {
      const now = performance.now();
      const frame = JSON.parse(data);
      if (frame.type !== 'message') return;
      if (received < samples.length) samples[received] = now - frame.data.t;
      received++;
    });
  }
  const publisher = await open(publisherToken);
  for (const { rate, seconds } of phases) {
    const expected = rate * seconds * subscribers.length;
    samples = new Float64Array(expected);
    received = 0;
    let seq = 0;
    const started = performance.now();
    await new Promise((resolve) => {
      const timer = setInterval(() => {
        // Catch up if the timer fell behind, so the offered rate holds.
        const due = Math.min(rate * seconds, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
        while (seq < due) {
          publisher.send(JSON.stringify({ type: 'publish', channel: 'bench/sensor-' + (seq % 10) + '/telemetry', data: { t: performance.now(), seq } }));
          seq++;
        }
        if (seq >= rate * seconds) { clearInterval(timer); resolve(); }
      }, 1000 / rate);
    });
    const deadline = performance.now() + 10000;
    while (received < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const elapsed = (performance.now() - started) / 1000;
    const got = samples.subarray(0, Math.min(received, expected)).sort();
    const pct = (p) => got.length === 0 ? NaN : got[Math.min(got.length - 1, Math.floor(p * got.length))];
    parentPort.postMessage({ rate, subscribers: subscribers.length, expected, received, elapsed,
      p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: got.length ? got[got.length - 1] : NaN });
  }
  for (const ws of [...subscribers, publisher]) ws.terminate();
  parentPort.postMessage('done');
})().catch((err) => { parentPort.postMessage({ error: String(err && err.stack || err) }); });
`;

interface LatencyRow {
  rate: number;
  subscribers: number;
  expected: number;
  received: number;
  elapsed: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

async function latency(): Promise<LatencyRow[]> {
  const router = new UpgradeRouter();
  const hub = new SignallingHubService(config, noCommands, new LocalSignallingRelay(), noDevices());
  const tokens = new TokenService(config);
  const auth = new SignallingAuthService(tokens, { keys: new Map(), rooms: new Map() });
  const gateway = new SignallingGateway(auth, hub, config);
  // What GatewayAdapter does for the app, without the rest of it.
  const wss = new RawWsServer();
  gateway.afterInit(wss);
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => gateway.handleConnection(ws, req));
  router.register((pathname) => pathname === SIGNALLING_PATH, wss.upgrade);
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', router.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const mint = (peerId: string, permissions: ('subscribe' | 'publish')[]): string =>
    tokens.mint({ peerId, channels: ['bench/**'], permissions, expiresInSec: 3600 }).token;

  const worker = new Worker(CLIENTS, {
    eval: true,
    workerData: {
      wsPath: require.resolve('ws'),
      url,
      tokens: Array.from({ length: SUBSCRIBERS }, (_, i) => mint(`sub-${i}`, ['subscribe'])),
      publisherToken: mint('publisher', ['publish']),
      phases: [
        { rate: 10, seconds: SECONDS },
        { rate: 50, seconds: SECONDS },
      ],
    },
  });
  const rows: LatencyRow[] = [];
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (msg: LatencyRow | 'done' | { error: string }) => {
      if (msg === 'done') return resolve();
      if ('error' in msg) return reject(new Error(msg.error));
      rows.push(msg);
    });
    worker.on('error', reject);
  });
  await worker.terminate();
  await gateway.onModuleDestroy();
  server.close();
  return rows;
}

async function main(): Promise<void> {
  console.log(`Signalling benchmark: ${SUBSCRIBERS} subscribers, ${SECONDS} s per rate, Node ${process.version}\n`);
  const rows = await latency();
  console.log('Publish-to-message latency (one publisher, subscribers on bench/*/telemetry)');
  console.table(
    rows.map((r) => ({
      'deliveries/s offered': r.rate * r.subscribers,
      'messages/s': r.rate,
      delivered: `${r.received}/${r.expected}`,
      'p50 ms': r.p50.toFixed(2),
      'p90 ms': r.p90.toFixed(2),
      'p99 ms': r.p99.toFixed(2),
      'max ms': r.max.toFixed(2),
    })),
  );
  const target = rows.find((r) => r.rate === 10);
  const judged = SUBSCRIBERS === TARGET_SUBSCRIBERS;
  const verdict = target !== undefined && target.received === target.expected && target.p99 <= 20;
  console.log(
    `Target (10,000 deliveries/s, p99 <= 20 ms, nothing lost): ${
      judged ? (verdict ? 'met' : 'MISSED') : `not judged (needs --subscribers ${TARGET_SUBSCRIBERS})`
    }\n`,
  );

  console.log('Routing cost per message (1,000 channels, each matching one or two patterns)');
  const newHub = (): SignallingHubService =>
    new SignallingHubService(config, noCommands, new LocalSignallingRelay(), noDevices());
  // A discarded first pass, so the smallest size is not also the one that warms the JIT up.
  routing(Math.min(...PATTERN_COUNTS), newHub);
  const routed = PATTERN_COUNTS.map((n) => routing(n, newHub));
  console.table(
    routed.map((r) => ({
      'distinct patterns': r.patterns,
      'matches/msg': r.matchedPerMessage.toFixed(2),
      'index µs/msg': r.indexUs.toFixed(2),
      'hub publish µs/msg': r.hubUs.toFixed(2),
      'naive scan µs/msg': r.scanUs.toFixed(2),
    })),
  );
  const [fewest, most] = [routed[0], routed[routed.length - 1]];
  if (routed.length > 1) {
    const growth = (a: number, b: number): string => `x${(b / a).toFixed(1)}`;
    console.log(
      `From ${fewest.patterns} to ${most.patterns} patterns (${growth(fewest.patterns, most.patterns)}): ` +
        `index ${growth(fewest.indexUs, most.indexUs)}, hub publish ${growth(fewest.hubUs, most.hubUs)}, ` +
        `naive scan ${growth(fewest.scanUs, most.scanUs)}`,
    );
  }
  if (judged && !verdict) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

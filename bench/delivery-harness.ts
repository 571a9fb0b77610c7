/**
 * What bench/delivery.ts and bench/delivery-peers.ts share: the service in a
 * child process (bench/delivery-server.ts), the publisher, and the clients.
 * Every peer is measured with these same clients and this same publisher.
 */
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { ServerMemory, ServerReady, ServerStages } from './delivery-server';

const PAD = 'x'.repeat(48);

/** What the bench can set on the service (bench/delivery-server.ts reads these). */
export interface ServerOptions {
  /** An external broker (`MQTT_URL`); the embedded broker when unset. */
  mqttUrl?: string;
  /** `TOPIC_PREFIX`, so runs on a shared broker never see each other's messages. */
  topicPrefix?: string;
  /** `DATABASE_URL`; a fresh SQLite file when unset. */
  databaseUrl?: string;
  /** Trace every event's stages (StageClock), for `stages()`. */
  stages?: boolean;
}

export class Server {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly mqttUrl: string,
  ) {}

  static async start(options: ServerOptions = {}): Promise<Server> {
    const child = fork(join(__dirname, 'delivery-server.ts'), [], {
      // BENCH_SERVER_ARGS adds node flags to the server, e.g. `--cpu-prof` to see where its time goes.
      execArgv: [
        '--expose-gc',
        '-r',
        'ts-node/register/transpile-only',
        ...(process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean),
      ],
      env: {
        ...process.env,
        ...(options.mqttUrl ? { BENCH_MQTT_URL: options.mqttUrl } : {}),
        ...(options.topicPrefix ? { BENCH_TOPIC_PREFIX: options.topicPrefix } : {}),
        ...(options.databaseUrl ? { BENCH_DATABASE_URL: options.databaseUrl } : {}),
        ...(options.stages ? { BENCH_STAGES: '1' } : {}),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<ServerReady>((resolve, reject) => {
      child.once('message', (m: ServerReady) => resolve(m));
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
    });
    return new Server(child, ready.url, ready.mqttUrl);
  }

  /** The server's process id, for its CPU time (`processCpuMs`). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  async memory(): Promise<ServerMemory> {
    const answer = new Promise<ServerMemory>((resolve) => this.child.once('message', (m: ServerMemory) => resolve(m)));
    this.child.send('rss');
    return answer;
  }

  /** Where each event's time went since start (started with `stages`; tracing stops) and the server's CPU time. */
  async stages(): Promise<ServerStages> {
    const answer = new Promise<ServerStages>((resolve) => this.child.once('message', (m: ServerStages) => resolve(m)));
    this.child.send('stages');
    return answer;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send('stop');
    await exited;
  }
}

export interface Sample {
  t: number;
  seq: number;
}
export type OnSample = (sample: Sample) => void;

/**
 * A WebSocket client that reports each published payload; resolves once open.
 * The bridge sends events (`{"event": "data", "data": {…payload…}}`), a
 * stateless flow the payload itself: both are read here.
 */
export async function wsClient(url: string, onSample: OnSample): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString('utf8')) as { data?: Sample } & Partial<Sample>;
    const sample = message.data ?? message;
    if (sample.t !== undefined && sample.seq !== undefined) onSample(sample as Sample);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

/** An SSE client on plain `http` (light enough for thousands); resolves once `connected` arrives. */
export async function sseClient(url: string, onSample: OnSample): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Accept: 'text/event-stream' }, agent: false }, (res) => {
      let buffer = '';
      let connected = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!connected && block.startsWith('event: connected')) {
            connected = true;
            resolve(req);
            continue;
          }
          const data = block.indexOf('\ndata: ');
          if (data < 0 || !block.includes('event: data')) continue;
          const event = JSON.parse(block.slice(data + 7)) as { data?: Sample };
          if (event.data?.t !== undefined) onSample(event.data);
        }
      });
    });
    req.on('error', reject);
  });
}

export async function mqttClient(url: string, name: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(url, {
    clientId: `bench-${name}-${process.pid}`,
    reconnectPeriod: 0,
    connectTimeout: 3000,
  });
}

/** The payload every publisher here sends: the send time, a sequence number and some padding. */
export const payload = (seq: number): string => JSON.stringify({ t: performance.now(), seq, pad: PAD });

/**
 * Publishes `{t, seq, pad}` at `rate` msg/s for `seconds`, QoS 0; returns how
 * many went. Between due times it sleeps (a timer, about 1 ms at least), so
 * messages due within one such sleep go together; it does not spin, which
 * took a whole core of this 2-core machine from the peers under test.
 */
export async function paced(
  client: mqtt.MqttClient,
  topic: string,
  rate: number,
  seconds: number,
  /** Called before each message with its `seq`. */
  before?: (seq: number) => void,
): Promise<number> {
  const start = performance.now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    while (sent < due) {
      before?.(sent);
      client.publish(topic, payload(sent), { qos: 0 });
      sent++;
    }
    const next = start + (sent / rate) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  return sent;
}

/**
 * CPU time so far in ms from a /proc stat file (a process's: every thread;
 * a task's: that thread), from utime and stime, fields 14 and 15 of
 * stat(5), in clock ticks of 10 ms; undefined where there is no such file.
 */
export function statCpuMs(path: string): number | undefined {
  try {
    const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** A process's CPU time so far, every thread, in ms (`statCpuMs`). */
export function processCpuMs(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : statCpuMs(`/proc/${pid}/stat`);
}

/** Waits until `done()` or until nothing has changed in `idleMs`. */
export async function settle(progress: () => number, done: () => boolean, idleMs = 5000): Promise<void> {
  let last = progress();
  let lastChange = Date.now();
  while (!done()) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = progress();
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > idleMs) return;
  }
}

/** Opens `count` connections, `batch` at a time. */
export async function openMany<T>(count: number, open: () => Promise<T>, batch = 100): Promise<T[]> {
  const all: T[] = [];
  for (let i = 0; i < count; i += batch)
    all.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - i) }, open))));
  return all;
}

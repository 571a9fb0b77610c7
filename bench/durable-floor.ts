/**
 * The durable floor of bench/delivery-peers.ts: the least a process can do
 * that, like the bridge, has each message on disk before any client gets it
 * (issue #17). One MQTT subscription (QoS 0, the broker of BENCH_BROKER_URL,
 * topic BENCH_TOPIC) -> each message appended to a file, fdatasync'd ->
 * the payload as it came to every WebSocket client. Whatever arrives while a
 * sync runs goes into the next write and sync (group commit, as the bridge
 * does); the file's writes and syncs run on libuv's thread pool, so the
 * event loop waits on nothing. No parsing, no ids, no registry, no log
 * format: what it costs above Node-RED is the sync, and what the bridge
 * costs above it is the bridge.
 *
 * Runs as a child process of its own (`DurableFloor.start`), as the bridge
 * and Node-RED do; says `{ wsUrl }` over IPC once it listens, and exits on
 * `stop`.
 */
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';

export interface FloorReady {
  wsUrl: string;
}

/** The floor, running in its child process. */
export class DurableFloor {
  private constructor(
    private readonly child: ChildProcess,
    readonly wsUrl: string,
  ) {}

  static async start(brokerUrl: string, topic: string): Promise<DurableFloor> {
    const child = fork(__filename, [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, BENCH_BROKER_URL: brokerUrl, BENCH_TOPIC: topic },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<FloorReady>((resolve, reject) => {
      child.once('message', (m: FloorReady) => resolve(m));
      child.once('exit', (code) => reject(new Error(`the durable floor exited (${code}) before it was ready`)));
    });
    return new DurableFloor(child, ready.wsUrl);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send('stop');
    await exited;
  }
}

const NEWLINE = Buffer.from('\n');

class SyncThenSend {
  private queued: Buffer[] = [];
  private syncing = false;

  constructor(
    private readonly file: FileHandle,
    private readonly clients: Set<WebSocket>,
  ) {}

  add(payload: Buffer): void {
    this.queued.push(payload);
    if (!this.syncing) void this.drain();
  }

  private async drain(): Promise<void> {
    this.syncing = true;
    while (this.queued.length > 0) {
      const batch = this.queued;
      this.queued = [];
      await this.file.write(Buffer.concat(batch.flatMap((payload) => [payload, NEWLINE])));
      await this.file.datasync();
      for (const payload of batch) for (const ws of this.clients) ws.send(payload, { binary: false });
    }
    this.syncing = false;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dhb-bench-floor-'));
  const file = await open(join(dir, 'log'), 'a');
  const clients = new Set<WebSocket>();
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (ws) => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
  });
  await new Promise((resolve) => server.once('listening', resolve));
  const log = new SyncThenSend(file, clients);
  const subscriber = await mqtt.connectAsync(process.env.BENCH_BROKER_URL as string, {
    clientId: `bench-floor-${process.pid}`,
    reconnectPeriod: 0,
  });
  subscriber.on('message', (_topic, payload: Buffer) => log.add(payload));
  await subscriber.subscribeAsync(process.env.BENCH_TOPIC as string, { qos: 0 });
  process.on('message', (message: string) => {
    if (message !== 'stop') return;
    void subscriber.endAsync().finally(async () => {
      for (const ws of clients) ws.terminate();
      server.close();
      await file.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
  const { port } = server.address() as { port: number };
  process.send?.({ wsUrl: `ws://127.0.0.1:${port}/` } satisfies FloorReady);
}

if (require.main === module) void main();

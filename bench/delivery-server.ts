/**
 * The service under test for bench/delivery.ts, in a process of its own so
 * that its RSS is its own and it has a core to itself: the real app on the
 * embedded broker (or BENCH_MQTT_URL's, with BENCH_TOPIC_PREFIX) and a fresh
 * SQLite file (or BENCH_DATABASE_URL), AUTH and DEVICE_AUTH off.
 * Answers `rss` (after a GC), `stages` (BENCH_STAGES=1: where each event's
 * time went, StageClock) and `stop` over IPC.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp } from '../src/app';
import { loadConfig } from '../src/config/load-config';
import { MqttTransport } from '../src/mqtt/mqtt-transport';
import type { StageReport } from '../src/observability/stage-clock';
import { StageClock } from '../src/observability/stage-clock';
import { statCpuMs } from './delivery-harness';

export interface ServerReady {
  kind: 'ready';
  url: string;
  mqttUrl: string;
}
/** BENCH_STAGES=1: per-stage delays since start (StageClock), asked for with `stages`. */
export interface ServerStages {
  kind: 'stages';
  report?: StageReport;
  /** The server's CPU time (every thread) meanwhile, ms. */
  cpuMs: number;
  /** Of it, the main thread's (the event loop), ms; from /proc, where there is one. */
  mainCpuMs?: number;
}

/** The main thread's CPU time so far in ms (Linux /proc; undefined elsewhere). */
function mainThreadCpuMs(): number | undefined {
  return statCpuMs(`/proc/self/task/${process.pid}/stat`);
}
export interface ServerMemory {
  kind: 'rss';
  rss: number;
  heapUsed: number;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dhb-bench-delivery-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: process.env.BENCH_DATABASE_URL ?? `sqlite:${join(dataDir, 'bench.sqlite')}`,
    AUTH: 'off',
    DEVICE_AUTH: 'off',
    LOG_LEVEL: 'error',
    ...(process.env.BENCH_MQTT_URL ? { MQTT_URL: process.env.BENCH_MQTT_URL } : {}),
    ...(process.env.BENCH_TOPIC_PREFIX ? { TOPIC_PREFIX: process.env.BENCH_TOPIC_PREFIX } : {}),
    ...(process.env.SEND_BUFFER_LIMIT ? { SEND_BUFFER_LIMIT: process.env.SEND_BUFFER_LIMIT } : {}),
    ...(process.env.SQLITE_SYNCHRONOUS ? { SQLITE_SYNCHRONOUS: process.env.SQLITE_SYNCHRONOUS } : {}),
  });
  const running = await startApp(config);
  if (process.env.BENCH_STAGES === '1') StageClock.start();
  let cpuFrom = process.cpuUsage();
  let mainFrom = mainThreadCpuMs();
  const described = running.app.get(MqttTransport).describe();
  const send = (message: ServerReady | ServerMemory | ServerStages): void => {
    process.send?.(message);
  };
  process.on('message', (message: string) => {
    if (message === 'rss') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      const usage = process.memoryUsage();
      send({ kind: 'rss', rss: usage.rss, heapUsed: usage.heapUsed });
    } else if (message === 'stages') {
      const cpu = process.cpuUsage(cpuFrom);
      const main = mainThreadCpuMs();
      const mainCpuMs = main !== undefined && mainFrom !== undefined ? main - mainFrom : undefined;
      cpuFrom = process.cpuUsage();
      mainFrom = main;
      send({ kind: 'stages', report: StageClock.stop(), cpuMs: (cpu.user + cpu.system) / 1000, mainCpuMs });
    } else if (message === 'stop') {
      void running.close().finally(() => {
        rmSync(dataDir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
  send({ kind: 'ready', url: running.url, mqttUrl: (described.tcp ?? described.external) as string });
}

void main();

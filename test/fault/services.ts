import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { waitFor } from '../support/wait';

/**
 * The machine's PostgreSQL and Redis, restarted by the fault project (and
 * only there: it runs alone, after every other suite, see jest.config.js and
 * .ci/run). Each restart waits until the service answers again, and
 * `ensureServices` brings back whatever a failed test left down.
 */
const run = promisify(execFile);
const REDIS_PORT = 6379;
const PG_PORT = 5432;
/** Longest wait for a service to answer again after a restart. */
const BACK_UP_MS = 30_000;

function portOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}

async function postgresReady(): Promise<true | undefined> {
  return run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', String(PG_PORT)]).then(
    () => true as const,
    () => undefined,
  );
}

function pgCluster(action: 'restart' | 'start'): Promise<unknown> {
  const [version] = readdirSync('/etc/postgresql');
  return run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', action], { timeout: BACK_UP_MS });
}

function startRedis(): Promise<unknown> {
  return run(
    'redis-server',
    ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no'],
    { timeout: BACK_UP_MS },
  );
}

/** `pg_ctlcluster … restart` (a fast shutdown: every connection is cut), then waits until it answers. */
export async function restartPostgres(): Promise<void> {
  await pgCluster('restart');
  await waitFor(postgresReady, 'PostgreSQL back after its restart', BACK_UP_MS);
}

/** `redis-cli shutdown nosave` (Redis loses everything, as the CI's Redis keeps nothing), then a new server. */
export async function restartRedis(): Promise<void> {
  await run('redis-cli', ['-p', String(REDIS_PORT), 'shutdown', 'nosave']).catch(() => undefined);
  await waitFor(async () => ((await portOpen(REDIS_PORT)) ? undefined : true), 'Redis gone', BACK_UP_MS);
  await startRedis();
  await waitFor(() => portOpen(REDIS_PORT), 'Redis back after its restart', BACK_UP_MS);
}

/** Starts PostgreSQL and Redis where they are down; run after every fault, passed or failed. */
export async function ensureServices(): Promise<void> {
  if (!(await postgresReady())) {
    await pgCluster('start').catch(() => undefined);
    await waitFor(postgresReady, 'PostgreSQL started again', BACK_UP_MS);
  }
  if (!(await portOpen(REDIS_PORT))) {
    await startRedis().catch(() => undefined);
    await waitFor(() => portOpen(REDIS_PORT), 'Redis started again', BACK_UP_MS);
  }
}

/**
 * What a commit on the SQLite writer thread costs an event at everyday rates
 * (issue #17), without a broker, clients or the rest of the service, so the
 * figures move little with the machine's load:
 *
 *   npm run bench -- sqlite-commit [--rate 1000] [--seconds 10] [--burn 0] [--ride 1] [--batch 1]
 *
 * Lone event-log appends (the counter, one event row of ~330 bytes, its batch
 * row) go to the writer thread one at a time at `rate` a second, each with the
 * previous event's device row and reading riding along (as `runLater` sends
 * them), on the real schema, timed from the post to the answer. Two ways:
 * - `in-commit`: SQLite's automatic checkpoint after a commit past 4,000
 *   WAL pages, as the writer ran before;
 * - `checkpointer`: the checkpointer thread beside the writer (PASSIVE every
 *   100 ms, 20 ms past 8,000 pages; a RESTART between two transactions past
 *   16,000 pages), as now.
 * Printed: p50, p99, max of the round trip, how many took over 10 ms, the
 * largest WAL seen, and per append the process's CPU time (every thread:
 * this loop, the writer, the checkpointer) and the bytes it had written to
 * the disk (/proc/self/io, WAL and checkpoints; Linux only).
 *
 * `--ride 1,20`: the device rows and readings ride with every append (1, as
 * the service did until the devices projection paced its writes, 20 ms
 * apart at the least), or with one in N, then carrying the N events' device
 * rows and readings in one job: a row of the table per value, both ways of
 * checkpointing each.
 *
 * `--batch N`: N events per append instead of one (the rate stays in
 * appends a second), as the log's group commit makes them at 10,000 msg/s.
 *
 * `--burn N` runs N processes that only spin in a busy loop beside both ways
 * (stopped at the end): the same commits on a machine whose cores are taken,
 * as they are in the delivery bench, where the bridge's threads, the broker,
 * the publisher and the clients share two cores. A commit that waits for the
 * disk sleeps, and waits again for a core when it wakes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../src/database/migrations';
import { SqliteCheckpointer } from '../src/database/sqlite-checkpointer';
import type { WriteJob, WriteResult, WriteStatement, WriterOptions } from '../src/database/sqlite-writer.protocol';
import { WalState } from '../src/database/wal-state';
import { listFlag, numberFlag } from './args';
import { ms, stats } from './latency-stats';

const RATE = numberFlag('rate', 1000);
const SECONDS = numberFlag('seconds', 10);
const BURN = numberFlag('burn', 0);
const RIDES = listFlag('ride', ['1']).map(Number);
/** Events per append (`--batch`): 1, a lone event, as at everyday rates; more, as the log's group commit makes them under load. */
const BATCH = numberFlag('batch', 1);

/** Bytes this process has had written to storage so far (Linux), or undefined. */
function writtenBytes(): number | undefined {
  try {
    const line = readFileSync('/proc/self/io', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('write_bytes:'));
    return line === undefined ? undefined : Number(line.split(':')[1]);
  } catch {
    return undefined;
  }
}
const BODY = JSON.stringify({ event: 'data', device_type: 'bench', data: { t: 1, seq: 1, pad: 'x'.repeat(200) } });

async function schema(path: string): Promise<void> {
  const db = new DataSource({ type: 'better-sqlite3', database: path, migrations: MIGRATIONS, migrationsRun: true });
  await db.initialize();
  await db.query(`PRAGMA journal_mode = WAL`);
  await db.destroy();
}

/** One append of `events` events from position `first` (BATCH; 1: a lone event), as SqliteEventLogRepository writes it. */
function append(first: number, events = BATCH): WriteStatement[] {
  const last = first + events - 1;
  const values: unknown[] = [];
  for (let id = first; id <= last; id++) values.push(id, 'data', 'bench', `b-${id % 100}`, Date.now(), BODY, null);
  return [
    { sql: `UPDATE event_sequence SET last_id = ? WHERE name = 'events' AND last_id = ?`, params: [last, first - 1] },
    {
      sql: `INSERT INTO events (id, event, device_type, device_id, received_at, body, message_id) VALUES ${Array.from({ length: events }, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      params: values,
    },
    {
      sql: `INSERT INTO event_batches (batch_key, first_id, last_id, skipped) VALUES (?, ?, ?, ?)`,
      params: [`bench-${first}`, first, last, ''],
    },
  ];
}

/**
 * The device rows and readings of events `from`..`to` (each of a device of
 * its own, b-0 to b-99), as SqliteDevicesRepository writes them: one job.
 */
function deviceWrites(from: number, to: number): WriteStatement[] {
  const statements: WriteStatement[] = [];
  for (let id = from; id <= to; id++) statements.push(...deviceWrite(id));
  return statements;
}

/** One event's device row and reading. */
function deviceWrite(id: number): WriteStatement[] {
  const key = (id % 100) + 1;
  return [
    {
      sql: `INSERT INTO devices (device_type, device_id, status, first_seen, last_seen, battery_level, firmware_version, latest_readings, device_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_type, device_id) DO UPDATE SET last_seen = excluded.last_seen, latest_readings = excluded.latest_readings`,
      params: ['bench', `b-${id % 100}`, 'online', 0, Date.now(), null, null, '{"seq":{"value":1}}', key],
    },
    {
      sql: `INSERT INTO readings (device_key, name, value, text_value, ts) VALUES (?, ?, ?, ?, ?)`,
      params: [key, 'seq', id, null, Date.now()],
    },
  ];
}

async function run(mode: 'in-commit' | 'checkpointer', ride: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dhb-bench-commit-'));
  const path = join(dir, 'bench.sqlite');
  await schema(path);
  const wal = new WalState();
  const options: WriterOptions = {
    path,
    busyTimeoutMs: 5000,
    walAutocheckpointPages: mode === 'in-commit' ? 4000 : 64_000,
    synchronous: 'FULL',
    walState: wal.buffer,
  };
  const writer = new Worker(join(__dirname, '../src/database/sqlite-writer.worker.ts'), {
    workerData: options,
    execArgv: ['-r', 'ts-node/register/transpile-only'],
  });
  await new Promise((resolve) => writer.once('message', resolve));
  const checkpointer =
    mode === 'checkpointer'
      ? new SqliteCheckpointer({
          path,
          busyTimeoutMs: 5000,
          intervalMs: 100,
          nearRestartIntervalMs: 20,
          restartPages: 16_000,
          walState: wal.buffer,
        })
      : undefined;
  await checkpointer?.start();
  const sentAt = new Map<number, number>();
  const times: number[] = [];
  writer.on('message', (results: WriteResult[]) => {
    for (const r of results) {
      const at = sentAt.get(r.id);
      if ('error' in r) throw new Error(r.error);
      if (at !== undefined) times.push(performance.now() - at);
    }
  });
  let largestWal = 0;
  const total = RATE * SECONDS;
  const cpuFrom = process.cpuUsage();
  const writtenFrom = writtenBytes();
  const start = performance.now();
  for (let id = 1; id <= total; id++) {
    const due = start + ((id - 1) / RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (id > 1 && (id - 1) % ride === 0)
      writer.postMessage({
        id: -id,
        statements: deviceWrites((id - 1 - ride) * BATCH + 1, (id - 1) * BATCH),
      } satisfies WriteJob);
    sentAt.set(id, performance.now());
    writer.postMessage({ id, statements: append((id - 1) * BATCH + 1) } satisfies WriteJob);
    if (id % 100 === 0) largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
  }
  while (times.length < total) await new Promise((resolve) => setTimeout(resolve, 10));
  const cpu = process.cpuUsage(cpuFrom);
  const writtenTo = writtenBytes();
  const written =
    writtenFrom === undefined || writtenTo === undefined
      ? 'n/a'
      : `${((writtenTo - writtenFrom) / total / 1024).toFixed(1)} KB`;
  await checkpointer?.close();
  const exited = new Promise((resolve) => writer.once('exit', resolve));
  writer.postMessage('close');
  await exited;
  rmSync(dir, { recursive: true, force: true });
  const s = stats(times);
  const slow = times.filter((t) => t > 10).length;
  console.log(
    `| ${mode} | ${ride} | ${total} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} | ${slow} | ${(largestWal / 2 ** 20).toFixed(1)} MB | ${((cpu.user + cpu.system) / total).toFixed(0)} µs | ${written} |`,
  );
}

async function main(): Promise<void> {
  const burners = Array.from({ length: BURN }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  process.on('exit', () => burners.forEach((b) => b.kill('SIGKILL')));
  const beside = BURN > 0 ? `, beside ${BURN} busy-looping processes` : '';
  const what = BATCH === 1 ? 'lone appends' : `appends of ${BATCH} events`;
  console.log(`### SQLite commit round trip, ${RATE} ${what} a second for ${SECONDS} s${beside}\n`);
  console.log(
    '| checkpoints | device rows ride with one append in | appends | p50 | p99 | max | over 10 ms | largest WAL | CPU per append | written per append |\n|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const ride of RIDES) {
    await run('in-commit', ride);
    await run('checkpointer', ride);
  }
  burners.forEach((b) => b.kill('SIGKILL'));
  console.log('');
}

void main();

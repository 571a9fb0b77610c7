/**
 * The SQLite writer thread (see BatchWriter). It owns a connection of its
 * own to the database file and runs the jobs it is sent; every job that is
 * waiting when it wakes goes into one transaction, each job in a savepoint
 * of its own, so one job's failure undoes only that job. Its commits do
 * not checkpoint (the checkpointer thread does, beside them), except for the
 * one RESTART checkpoint that thread asks for when the WAL has grown long.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { WriteJob, WriteResult, WriterOptions, WriterReady } from './sqlite-writer.protocol';
import { WalState } from './wal-state';

/** Jobs per transaction at most: each job is already a batch, so this bounds one commit's size. */
const JOBS_PER_TRANSACTION = 64;
/** Prepared statements kept; callers reuse a few texts (full chunks), so this is never reached in steady state. */
const STATEMENT_CACHE = 256;

const port = parentPort;
if (!port) throw new Error('sqlite-writer.worker runs as a worker thread');
const options = workerData as WriterOptions;
const db = new Database(options.path, { timeout: options.busyTimeoutMs });
db.pragma('journal_mode = WAL');
// FULL by default (SQLITE_SYNCHRONOUS): in WAL mode NORMAL syncs only at checkpoints, so a power cut or an OS
// crash could take back commits whose MQTT messages were acknowledged already (issue #11: an acknowledgement is
// a promise about durable storage). FULL syncs the WAL at each commit, one per transaction of jobs.
db.pragma(`synchronous = ${options.synchronous}`);
db.pragma(`wal_autocheckpoint = ${options.walAutocheckpointPages}`);
const wal = new WalState(options.walState);
const prepared = new Map<string, Database.Statement>();

function statement(sql: string): Database.Statement {
  let s = prepared.get(sql);
  if (s === undefined) {
    if (prepared.size >= STATEMENT_CACHE) prepared.clear();
    s = db.prepare(sql);
    prepared.set(sql, s);
  }
  return s;
}

function runJob(job: WriteJob): number[] {
  return job.statements.map(({ sql, params, expectChanges }) => {
    const { changes } = statement(sql).run(params);
    if (expectChanges !== undefined && changes !== expectChanges)
      throw new Error(`${sql.slice(0, 60)}… changed ${changes} rows, expected ${expectChanges}`);
    return changes;
  });
}

function runAll(jobs: WriteJob[]): WriteResult[] {
  const results: WriteResult[] = [];
  try {
    db.exec('BEGIN IMMEDIATE');
    for (const job of jobs) {
      db.exec('SAVEPOINT job');
      try {
        results.push({ id: job.id, changes: runJob(job) });
        db.exec('RELEASE job');
      } catch (err) {
        db.exec('ROLLBACK TO job');
        db.exec('RELEASE job');
        results.push({ id: job.id, error: String(err), code: codeOf(err) });
      }
    }
    db.exec('COMMIT');
    return results;
  } catch (err) {
    // BEGIN or COMMIT failed (a locked or full database): nothing of these jobs is in.
    if (db.inTransaction) db.exec('ROLLBACK');
    return jobs.map((job) => ({ id: job.id, error: String(err), code: codeOf(err) }));
  }
}

/**
 * Between two transactions, after the answer went out: the checkpointer has
 * copied nearly all of a long WAL back, and this RESTART checkpoint copies
 * the rest and lets the next transaction write the WAL from its start. It
 * waits for the main connection's readers (BUSY_TIMEOUT at most).
 */
function restartIfWanted(): void {
  if (!wal.restartWanted || !wal.tryLock(2)) return;
  try {
    db.pragma('wal_checkpoint(RESTART)');
    wal.restartWanted = false;
  } catch {
    // Busy: asked again after the next transaction.
  } finally {
    wal.unlock();
  }
}

/** better-sqlite3's SqliteError carries the extended result code, e.g. `SQLITE_CONSTRAINT_UNIQUE`. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

port.on('message', (first: WriteJob | 'close') => {
  if (first === 'close') {
    db.close();
    port.close();
    return;
  }
  const jobs = [first];
  let closing = false;
  while (jobs.length < JOBS_PER_TRANSACTION) {
    const next = receiveMessageOnPort(port)?.message as WriteJob | 'close' | undefined;
    if (next === undefined) break;
    if (next === 'close') {
      closing = true;
      break;
    }
    jobs.push(next);
  }
  port.postMessage(runAll(jobs));
  restartIfWanted();
  if (closing) {
    db.close();
    port.close();
  }
});
const ready: WriterReady = { ready: true, synchronous: Number(db.pragma('synchronous', { simple: true })) };
port.postMessage(ready);

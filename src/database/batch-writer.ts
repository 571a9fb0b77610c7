import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { SqliteCheckpointer } from './sqlite-checkpointer';
import type { WriteJob, WriteResult, WriteStatement, WriterOptions, WriterReady } from './sqlite-writer.protocol';
import { WalState } from './wal-state';

export type { WriteStatement } from './sqlite-writer.protocol';

/**
 * How long a writer waits for the other connection's write lock (both
 * connections, main and writer thread). @default 5000 ms, better-sqlite3's and TypeORM's own.
 */
const BUSY_TIMEOUT_MS = 5000;
/**
 * Pause between two of the checkpointer thread's PASSIVE checkpoints.
 * @default 100 ms (each that copies anything syncs both files: ten a second
 * at most), and 20 ms once the WAL is past half of WAL_RESTART_PAGES, since
 * what the writer's RESTART then copies and syncs, while events wait, is what
 * came in since the last one.
 */
const CHECKPOINT_INTERVAL_MS = 100;
const NEAR_RESTART_CHECKPOINT_INTERVAL_MS = 20;
/**
 * WAL pages past which the writer runs one RESTART checkpoint between two
 * transactions, so the WAL starts over. @default 16000 pages (64 MB): at
 * 1,000 lone events a second the log and readings write 5-7 pages per
 * event, so this comes every 2-3 s, each a wait of a few milliseconds (the
 * checkpointer has copied nearly all of it).
 */
const WAL_RESTART_PAGES = 16000;
/**
 * Longest wait of a `runLater` job for a `run` to go with. @default 50 ms:
 * readings and device rows are that much later in the database when no
 * event follows them.
 */
const LATER_MS = 50;
/**
 * Parameters from which a `runLater` job goes to the thread at once instead
 * of waiting for the next `run`. @default 4096 (about 800 readings, what
 * some 160 data events make): a commit of its own then costs little beside
 * its rows, and the thread writes them while the event loop makes the next
 * event batch. Held back, they kept the thread idle while it did: under the
 * QoS 0 ingest bench's load the thread waited 25-50 ms for each 5,000-event
 * job (BENCHMARKS.md, "#14 before/after").
 */
const LATER_AT_ONCE_PARAMS = 4096;
/** SQLite's own checkpoint inside a commit: a safety net should the checkpointer thread be away. @default 4 × WAL_RESTART_PAGES */
const WAL_AUTOCHECKPOINT_PAGES = 4 * WAL_RESTART_PAGES;

interface Waiting {
  resolve: (changes: number[]) => void;
  reject: (err: Error) => void;
}

/**
 * Runs the hot path's writes (event log, readings, device rows): each call
 * is one job whose statements commit together or not at all.
 *
 * On a SQLite file the jobs go to a worker thread with its own connection:
 * better-sqlite3 is synchronous, and on the event loop its inserts and
 * commits took more time than the broker and ingestion together. The thread
 * puts every job waiting when it wakes into one transaction (one commit),
 * each in its own savepoint. Other SQLite writes stay on the main
 * connection; WAL lets reads there see each commit at once, and a main-thread
 * write meets the thread's lock for at most one transaction. A second
 * thread (SqliteCheckpointer) copies the WAL back into the database file
 * beside the writer's commits, so no commit waits for a checkpoint's syncs.
 *
 * PostgreSQL (whose driver is asynchronous already) and `sqlite::memory:`
 * (one connection only) run each job as a transaction on the DataSource.
 */
@Injectable()
export class BatchWriter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(BatchWriter.name);
  private readonly path: string | undefined;
  private readonly synchronous: WriterOptions['synchronous'];
  private worker: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  private checkpointer: SqliteCheckpointer | undefined;
  private readonly wal = new WalState();
  private readonly waiting = new Map<number, Waiting>();
  /** Jobs of `runLater` waiting for the next `run`. */
  private later: (Waiting & { statements: WriteStatement[] })[] = [];
  private laterTimer: NodeJS.Timeout | undefined;
  private nextJob = 1;
  private closing = false;
  /** The writer thread's `PRAGMA synchronous` as SQLite reports it (2 = FULL, 1 = NORMAL), once it is running. */
  threadSynchronous: number | undefined;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const database = config.database;
    this.path = database.type === 'sqlite' && database.path !== ':memory:' ? database.path : undefined;
    this.synchronous = sqlitePragma(config.sqliteSynchronous);
  }

  /** True when jobs run on the writer thread. */
  get offThread(): boolean {
    return this.path !== undefined;
  }

  async onModuleInit(): Promise<void> {
    if (this.path === undefined) return;
    await this.start(this.path);
    this.checkpointer = new SqliteCheckpointer({
      path: this.path,
      busyTimeoutMs: BUSY_TIMEOUT_MS,
      intervalMs: CHECKPOINT_INTERVAL_MS,
      nearRestartIntervalMs: NEAR_RESTART_CHECKPOINT_INTERVAL_MS,
      restartPages: WAL_RESTART_PAGES,
      walState: this.wal.buffer,
    });
    await this.checkpointer.start();
  }

  /** Runs the statements as one job; resolves with the rows each changed. */
  async run(statements: WriteStatement[]): Promise<number[]> {
    if (this.path === undefined) return this.inProcess(statements);
    if (this.closing) throw new Error('the SQLite writer is closed');
    const worker = this.worker ?? (await this.start(this.path));
    this.sendLater(worker);
    return this.send(worker, statements);
  }

  /**
   * The same, for writes nobody waits on at once (device rows and readings,
   * made after their events are committed and sent): the job waits for the
   * next `run` and goes to the thread just before it, so the two cost one
   * wake-up of the thread and share one transaction; alone, it goes after
   * LATER_MS. At 1,000 lone events a second that halves the thread's
   * wake-ups and commits, and an event no longer waits behind a readings
   * commit of its own (issue #17). A big job (LATER_AT_ONCE_PARAMS) goes at once.
   */
  runLater(statements: WriteStatement[]): Promise<number[]> {
    if (this.path === undefined) return this.inProcess(statements);
    if (this.closing) return Promise.reject(new Error('the SQLite writer is closed'));
    return new Promise<number[]>((resolve, reject) => {
      this.later.push({ statements, resolve, reject });
      if (this.worker !== undefined && paramCount(statements) >= LATER_AT_ONCE_PARAMS) {
        // The jobs held before it go first: their order is kept.
        this.sendLater(this.worker);
        return;
      }
      this.laterTimer ??= setTimeout(() => {
        this.laterTimer = undefined;
        this.sendLaterAlone();
      }, LATER_MS);
    });
  }

  private send(worker: Worker, statements: WriteStatement[]): Promise<number[]> {
    const job: WriteJob = { id: this.nextJob++, statements };
    return new Promise<number[]>((resolve, reject) => {
      this.waiting.set(job.id, { resolve, reject });
      worker.postMessage(job);
    });
  }

  /** Sends the jobs waiting for a `run`, in their order. */
  private sendLater(worker: Worker): void {
    clearTimeout(this.laterTimer);
    this.laterTimer = undefined;
    for (const { statements, resolve, reject } of this.later.splice(0))
      this.send(worker, statements).then(resolve, reject);
  }

  private sendLaterAlone(): void {
    if (this.later.length === 0 || this.path === undefined) return;
    const started = this.worker ? Promise.resolve(this.worker) : this.start(this.path);
    started.then(
      (worker) => this.sendLater(worker),
      (err: unknown) => {
        for (const { reject } of this.later.splice(0)) reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  /** Callers have awaited their writes by now (the bus and device writer drain first). */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /**
   * Takes no more jobs and resolves once the thread has finished the jobs it
   * was sent and closed its connection. Also what a shutdown past
   * SHUTDOWN_TIMEOUT waits for before it exits: a thread stopped while
   * better-sqlite3 waits for a lock (up to BUSY_TIMEOUT_MS) aborts the whole
   * process natively, with a V8 fatal error instead of the exit code.
   */
  async close(): Promise<void> {
    this.closing = true;
    await this.checkpointer?.close();
    const worker = this.worker ?? (await this.starting?.catch(() => undefined));
    if (!worker) return;
    // Callers have drained: anything still held for a `run` goes now, before the thread's last transaction.
    this.sendLater(worker);
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('close');
    await exited;
  }

  private async inProcess(statements: WriteStatement[]): Promise<number[]> {
    return this.db.transaction(async (tx) => {
      const runner = tx.queryRunner;
      if (!runner) throw new Error('transaction without a query runner');
      const changes: number[] = [];
      for (const { sql, params, expectChanges } of statements) {
        const { affected } = await runner.query(sql, params, true);
        const changed = affected ?? 0;
        if (expectChanges !== undefined && changed !== expectChanges)
          throw new Error(`${sql.slice(0, 60)}… changed ${changed} rows, expected ${expectChanges}`);
        changes.push(changed);
      }
      return changes;
    });
  }

  private start(path: string): Promise<Worker> {
    this.starting ??= new Promise<Worker>((resolve, reject) => {
      const source = extname(__filename);
      const options: WriterOptions = {
        path,
        busyTimeoutMs: BUSY_TIMEOUT_MS,
        walAutocheckpointPages: WAL_AUTOCHECKPOINT_PAGES,
        synchronous: this.synchronous,
        walState: this.wal.buffer,
      };
      const worker = new Worker(join(__dirname, `sqlite-writer.worker${source}`), {
        workerData: options,
        // Tests and benchmarks run the TypeScript sources; the built service runs dist/.
        execArgv: source === '.ts' ? ['-r', 'ts-node/register/transpile-only'] : [],
      });
      let failure: Error | undefined;
      worker.on('message', (message: WriterReady | WriteResult[]) => {
        if (!Array.isArray(message)) {
          this.threadSynchronous = message.synchronous;
          this.worker = worker;
          resolve(worker);
          return;
        }
        for (const result of message) this.settle(result);
      });
      worker.on('error', (err) => (failure = err));
      worker.on('exit', (code) => {
        const reason = failure ?? new Error(`the SQLite writer thread exited with code ${code}`);
        // Stopped inside its RESTART checkpoint: the checkpointer must not wait for that lock for ever.
        this.wal.releaseIfHeldBy(2);
        if (this.worker !== worker) reject(reason);
        this.worker = undefined;
        this.starting = undefined;
        if (!this.closing) this.logger.error(`SQLite writer thread stopped: ${reason.message}`);
        // Its jobs' callers retry (the bus and device writer keep their batches); the next job starts a new thread.
        for (const [, waiting] of this.waiting) waiting.reject(reason);
        this.waiting.clear();
      });
    });
    return this.starting;
  }

  private settle(result: WriteResult): void {
    const waiting = this.waiting.get(result.id);
    if (!waiting) return;
    this.waiting.delete(result.id);
    if ('error' in result) waiting.reject(Object.assign(new Error(result.error), { code: result.code }));
    else waiting.resolve(result.changes);
  }
}

function paramCount(statements: readonly WriteStatement[]): number {
  let count = 0;
  for (const s of statements) count += s.params.length;
  return count;
}

/** SQLITE_SYNCHRONOUS as the pragma takes it: FULL unless `normal` was asked for. */
export function sqlitePragma(setting: AppConfig['sqliteSynchronous'] | undefined): 'FULL' | 'NORMAL' {
  return setting === 'normal' ? 'NORMAL' : 'FULL';
}

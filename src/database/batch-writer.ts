import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { WriteJob, WriteResult, WriteStatement, WriterOptions, WriterReady } from './sqlite-writer.protocol';

export type { WriteStatement } from './sqlite-writer.protocol';

/**
 * How long a writer waits for the other connection's write lock (both
 * connections, main and writer thread). @default 5000 ms, better-sqlite3's and TypeORM's own.
 */
const BUSY_TIMEOUT_MS = 5000;
/**
 * WAL pages before SQLite copies them back into the database file. @default
 * 4000 pages (16 MB; SQLite's own default is 1000): a checkpoint syncs the
 * file, and fewer, larger ones cost the writer less per event.
 */
const WAL_AUTOCHECKPOINT_PAGES = 4000;

interface Waiting {
  resolve(changes: number[]): void;
  reject(err: Error): void;
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
 * write meets the thread's lock for at most one transaction.
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
  private readonly waiting = new Map<number, Waiting>();
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
    if (this.path !== undefined) await this.start(this.path);
  }

  /** Runs the statements as one job; resolves with the rows each changed. */
  async run(statements: WriteStatement[]): Promise<number[]> {
    if (this.path === undefined) return this.inProcess(statements);
    if (this.closing) throw new Error('the SQLite writer is closed');
    const worker = this.worker ?? (await this.start(this.path));
    const job: WriteJob = { id: this.nextJob++, statements };
    return new Promise<number[]>((resolve, reject) => {
      this.waiting.set(job.id, { resolve, reject });
      worker.postMessage(job);
    });
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
    const worker = this.worker ?? (await this.starting?.catch(() => undefined));
    if (!worker) return;
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

/** SQLITE_SYNCHRONOUS as the pragma takes it: FULL unless `normal` was asked for. */
export function sqlitePragma(setting: AppConfig['sqliteSynchronous'] | undefined): 'FULL' | 'NORMAL' {
  return setting === 'normal' ? 'NORMAL' : 'FULL';
}

import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Logger } from '@nestjs/common';
import type { CheckpointerOptions } from './sqlite-writer.protocol';
import { WalState } from './wal-state';

/** A checkpointer thread that stopped on its own is started again after this long. */
const RESTART_DELAY_MS = 1000;

/**
 * Owns the checkpointer thread (sqlite-checkpointer.worker.ts) of one SQLite
 * file: starts it, starts it again should it stop, and closes it. While it
 * is away the writer's safety autocheckpoint keeps the WAL bounded.
 */
export class SqliteCheckpointer {
  private readonly logger = new Logger('SqliteCheckpointer');
  private worker: Worker | undefined;
  private closing = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly options: CheckpointerOptions) {}

  /** Resolves once the thread has its connection. */
  start(): Promise<void> {
    const source = extname(__filename);
    const worker = new Worker(join(__dirname, `sqlite-checkpointer.worker${source}`), {
      workerData: this.options,
      // Tests and benchmarks run the TypeScript sources; the built service runs dist/.
      execArgv: source === '.ts' ? ['-r', 'ts-node/register/transpile-only'] : [],
    });
    this.worker = worker;
    return new Promise((resolve, reject) => {
      let failure: Error | undefined;
      worker.once('message', () => resolve());
      worker.on('error', (err) => (failure = err));
      worker.on('exit', (code) => {
        const reason = failure ?? new Error(`exited with code ${code}`);
        reject(reason);
        // Stopped inside a checkpoint: the writer must not wait for a lock nobody will give back.
        new WalState(this.options.walState).releaseIfHeldBy(1);
        if (this.worker === worker) this.worker = undefined;
        if (this.closing) return;
        this.logger.error(`SQLite checkpointer thread stopped: ${reason.message}; starting it again`);
        this.retry = setTimeout(() => {
          this.start().catch(() => undefined); // its exit handler logs and tries again
        }, RESTART_DELAY_MS);
        this.retry.unref();
      });
    });
  }

  /** Stops the thread (after the checkpoint it may be running) and resolves once it has closed its connection. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retry);
    const worker = this.worker;
    if (worker === undefined) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('close');
    await exited;
  }
}

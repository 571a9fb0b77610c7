import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { SqliteCheckpointer } from './sqlite-checkpointer';
import type { WriteJob, WriteResult, WriterOptions } from './sqlite-writer.protocol';
import { WalState } from './wal-state';

const PAGE = 4096;
const RESTART_PAGES = 40;

/**
 * The writer thread and the checkpointer thread together, with a small WAL
 * bound: however long commits keep coming, with no quiet moment for the WAL
 * to start over by itself, it stays bounded, and nothing written is lost.
 */
describe('SQLite checkpointer and writer threads', () => {
  let dir: string;
  let path: string;
  let writer: Worker;
  let checkpointer: SqliteCheckpointer;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dhb-ckpt-'));
    path = join(dir, 'db.sqlite');
    const setup = new Database(path);
    setup.pragma('journal_mode = WAL');
    setup.exec('CREATE TABLE t (n integer PRIMARY KEY, pad text)');
    setup.close();
    const wal = new WalState();
    const options: WriterOptions = {
      path,
      busyTimeoutMs: 5000,
      // Far off: only the two threads' own checkpoints may keep the WAL short.
      walAutocheckpointPages: 1_000_000,
      synchronous: 'FULL',
      walState: wal.buffer,
    };
    writer = new Worker(join(__dirname, 'sqlite-writer.worker.ts'), {
      workerData: options,
      execArgv: ['-r', 'ts-node/register/transpile-only'],
    });
    await new Promise((resolve) => writer.once('message', resolve));
    checkpointer = new SqliteCheckpointer({
      path,
      busyTimeoutMs: 5000,
      intervalMs: 2,
      nearRestartIntervalMs: 2,
      restartPages: RESTART_PAGES,
      walState: wal.buffer,
    });
    await checkpointer.start();
  });

  afterEach(async () => {
    await checkpointer.close();
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    writer.postMessage('close');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });

  /** One job at a time, each as soon as the one before is answered: commits with no gap between them. */
  async function writeRows(count: number): Promise<number> {
    let largestWal = 0;
    for (let n = 0; n < count; n++) {
      const job: WriteJob = {
        id: n,
        statements: [{ sql: 'INSERT INTO t VALUES (?, ?)', params: [n, 'x'.repeat(3000)] }],
      };
      const answered = new Promise<WriteResult[]>((resolve) => writer.once('message', resolve));
      writer.postMessage(job);
      const [result] = await answered;
      expect(result).toEqual({ id: n, changes: [1] });
      largestWal = Math.max(largestWal, statSync(`${path}-wal`).size);
    }
    return largestWal;
  }

  it('keeps the WAL bounded under commits that never pause, and loses nothing', async () => {
    // About one page per row: 1,500 pages in all, against a restart every 40.
    const largestWal = await writeRows(1500);
    expect(largestWal).toBeLessThan(20 * RESTART_PAGES * PAGE);
    const reader = new Database(path, { readonly: true });
    expect(reader.prepare('SELECT count(*) AS c FROM t').get()).toEqual({ c: 1500 });
    reader.close();
  });
});

describe('WalState', () => {
  it('gives the checkpoint lock to one holder at a time, and frees a gone holder only', () => {
    const wal = new WalState();
    expect(wal.tryLock(1)).toBe(true);
    expect(wal.tryLock(2)).toBe(false);
    // The writer thread died: releasing its hold leaves the checkpointer's alone.
    wal.releaseIfHeldBy(2);
    expect(wal.tryLock(2)).toBe(false);
    wal.releaseIfHeldBy(1);
    expect(wal.tryLock(2)).toBe(true);
    wal.unlock();
    expect(wal.restartWanted).toBe(false);
    wal.restartWanted = true;
    expect(new WalState(wal.buffer).restartWanted).toBe(true);
  });
});

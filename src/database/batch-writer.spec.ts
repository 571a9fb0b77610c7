import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { waitFor } from '../../test/support/wait';
import { BatchWriter } from './batch-writer';
import { dataSourceOptions } from './database.module';

/** The writer thread on a real SQLite file, read back through a second (TypeORM) connection as the app does. */
describe('BatchWriter on a SQLite file', () => {
  let dir: string;
  let db: DataSource;
  let writer: BatchWriter;

  const insert = (n: number) => ({ sql: 'INSERT INTO t (n) VALUES (?)', params: [n] });
  const values = async (): Promise<number[]> =>
    (await db.query<{ n: number }[]>('SELECT n FROM t ORDER BY n')).map((r) => r.n);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dhb-writer-'));
    const path = join(dir, 'db.sqlite');
    db = new DataSource({ type: 'better-sqlite3', database: path, enableWAL: true });
    await db.initialize();
    await db.query('CREATE TABLE t (n integer PRIMARY KEY)');
    writer = new BatchWriter(db, { database: { type: 'sqlite', path } } as AppConfig);
    await writer.onModuleInit();
  });
  afterEach(async () => {
    await writer.onApplicationShutdown();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs jobs off the event loop and the main connection sees each commit once it resolves', async () => {
    expect(writer.offThread).toBe(true);
    expect(await writer.run([insert(1), insert(2)])).toEqual([1, 1]);
    expect(await values()).toEqual([1, 2]);
  });

  // Issue #11: an acknowledged message must survive a power cut, not only a process crash. In WAL mode
  // synchronous=NORMAL syncs at checkpoints only; FULL (2) syncs each commit. The main connection too.
  it('syncs each commit to disk by default: synchronous=FULL on the thread and on the main connection', async () => {
    await writer.run([insert(1)]);
    expect(writer.threadSynchronous).toBe(2);
    expect(mainSynchronous({ database: { type: 'sqlite', path: join(dir, 'db.sqlite') } } as AppConfig)).toBe(2);
  });

  it('syncs at checkpoints only with SQLITE_SYNCHRONOUS=normal, on both connections', async () => {
    const path = join(dir, 'db.sqlite');
    const config = { database: { type: 'sqlite', path }, sqliteSynchronous: 'normal' } as AppConfig;
    const normal = new BatchWriter(db, config);
    await normal.onModuleInit();
    try {
      await normal.run([insert(7)]);
      expect(normal.threadSynchronous).toBe(1);
      expect(mainSynchronous(config)).toBe(1);
    } finally {
      await normal.onApplicationShutdown();
    }
  });

  it('undoes only the job that fails, with the database error, while jobs sent with it commit', async () => {
    const jobs = [writer.run([insert(1)]), writer.run([insert(2), insert(1)]), writer.run([insert(3)])];
    const settled = await Promise.allSettled(jobs);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((settled[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE constraint failed: t\.n/);
    // Job 2's first row went with it.
    expect(await values()).toEqual([1, 3]);
  });

  it('fails a job whose statement changes an unexpected number of rows', async () => {
    await writer.run([insert(1)]);
    await expect(
      writer.run([insert(5), { sql: 'UPDATE t SET n = 9 WHERE n = ?', params: [42], expectChanges: 1 }]),
    ).rejects.toThrow(/changed 0 rows, expected 1/);
    expect(await values()).toEqual([1]);
  });

  it('fails the jobs of a writer thread that dies, and starts a new one for the next job', async () => {
    await writer.run([insert(1)]);
    // Fault injection: the thread goes away (as on an out-of-memory kill) with a job on its way. The
    // job is sent once termination has begun, so the thread cannot finish it first and answer.
    const thread = (writer as unknown as { worker: Worker }).worker;
    const stopped = thread.terminate();
    const lost = writer.run([insert(2)]);
    await stopped;
    await expect(lost).rejects.toThrow(/SQLite writer thread exited/);
    expect(await writer.run([insert(3)])).toEqual([1]);
    expect((await values()).filter((n) => n !== 2)).toEqual([1, 3]);
  });

  it('sends a runLater job just before the next run job, and alone when none comes', async () => {
    const later = writer.runLater([insert(1)]);
    // Passes only if row 1 is in already when this job runs.
    const now = writer.run([{ sql: 'UPDATE t SET n = 2 WHERE n = 1', params: [], expectChanges: 1 }]);
    expect(await Promise.all([later, now])).toEqual([[1], [1]]);
    expect(await values()).toEqual([2]);
    expect(await writer.runLater([insert(3)])).toEqual([1]);
    expect(await values()).toEqual([2, 3]);
  });

  it('sends a big runLater job at once, after the jobs held before it', async () => {
    // The held job's LATER_MS timer never fires: only the big job can send it.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const held = writer.runLater([insert(1)]);
      const rows = Array.from({ length: 4096 }, (_, i) => i + 2);
      const big = writer.runLater([
        { sql: `INSERT INTO t (n) VALUES ${rows.map(() => '(?)').join(',')}`, params: rows },
        // Passes only if row 1 is in already when this job runs.
        { sql: 'UPDATE t SET n = 0 WHERE n = 1', params: [], expectChanges: 1 },
      ]);
      expect(await Promise.all([held, big])).toEqual([[1], [4096, 1]]);
    } finally {
      jest.useRealTimers();
    }
    expect(await values()).toEqual([0, ...Array.from({ length: 4096 }, (_, i) => i + 2)]);
  });

  it('copies the WAL back into the database file beside the writes (the checkpointer thread)', async () => {
    const path = join(dir, 'db.sqlite');
    const before = statSync(path).size;
    await writer.run(Array.from({ length: 200 }, (_, i) => insert(i)));
    await db.query('CREATE TABLE pad (x text)');
    await writer.run(
      Array.from({ length: 50 }, () => ({ sql: 'INSERT INTO pad VALUES (?)', params: ['x'.repeat(4000)] })),
    );
    // Neither connection checkpoints on commit (the writer's safety net is far off): the file grows by the checkpointer only.
    await waitFor(() => (statSync(path).size > before + 100_000 ? true : undefined), 'a checkpoint', 5000);
  });

  it('takes many jobs sent at once, and keeps their order', async () => {
    const all = Array.from({ length: 500 }, (_, i) => writer.run([insert(i)]));
    await Promise.all(all);
    expect(await values()).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });
});

describe('BatchWriter without a file', () => {
  it('runs each job as a transaction on the DataSource, all or nothing', async () => {
    const db = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    await db.initialize();
    await db.query('CREATE TABLE t (n integer PRIMARY KEY)');
    const writer = new BatchWriter(db, { database: { type: 'sqlite', path: ':memory:' } } as AppConfig);
    expect(writer.offThread).toBe(false);
    await writer.run([{ sql: 'INSERT INTO t (n) VALUES (?)', params: [1] }]);
    await expect(
      writer.run([
        { sql: 'INSERT INTO t (n) VALUES (?)', params: [2] },
        { sql: 'INSERT INTO t (n) VALUES (?)', params: [1] },
      ]),
    ).rejects.toThrow(/UNIQUE/);
    expect(await db.query('SELECT n FROM t')).toEqual([{ n: 1 }]);
    await db.destroy();
  });
});

/** `PRAGMA synchronous` of a connection prepared as the app's main connection is (database.module.ts). */
function mainSynchronous(config: AppConfig): unknown {
  if (config.database.type !== 'sqlite') throw new Error('a SQLite configuration');
  const main = new Database(config.database.path);
  try {
    (dataSourceOptions(config) as { prepareDatabase(db: Database.Database): void }).prepareDatabase(main);
    return main.pragma('synchronous', { simple: true });
  } finally {
    main.close();
  }
}

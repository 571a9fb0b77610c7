import type { Worker } from 'node:worker_threads';
import { BatchWriter } from '../src/database/batch-writer';
import type { WriteJob, WriteResult, WriterReady } from '../src/database/sqlite-writer.protocol';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import type { NumberedPublisher } from './support/numbered-publishers';
import {
  acknowledgedMore,
  countLogged,
  faultLine,
  startPublishers,
  stopAndSettle,
} from './support/numbered-publishers';
import { waitFor } from './support/wait';

/**
 * Acknowledged means written (issue #11): the SQLite writer thread dies after
 * its COMMIT and before its reply reaches the service. The service sees the
 * thread exit, its batches fail, and the bus retries them under the same
 * batch key: the log must not hold them twice, nor lose what a device saw
 * acknowledged. The fault is made from the outside, without a hook in the
 * service: the reply to a committed event-log batch is taken off the thread's
 * message stream and the thread is terminated, as a crash between the two
 * would. Half the devices send no `message_id`, so the batch key alone
 * must keep their messages single. Embedded broker and SQLite file always: the thread exists only there.
 */
const KILLS = 5;
const DEVICES = 4;

interface Internals {
  worker?: Worker;
}

/** Terminates `writer`'s thread once it has committed an event-log batch, before its reply is read. */
function dieAfterNextLogCommit(writer: BatchWriter): Promise<Worker> {
  const worker = (writer as unknown as Internals).worker;
  if (worker === undefined) throw new Error('the SQLite writer has no thread');
  const logJobs = new Set<number>();
  const post = worker.postMessage.bind(worker);
  const emit = worker.emit.bind(worker);
  return new Promise((resolve) => {
    worker.postMessage = (job: WriteJob | 'close') => {
      if (job !== 'close' && job.statements.some((s) => s.sql.startsWith('INSERT INTO event_batches')))
        logJobs.add(job.id);
      post(job);
    };
    worker.emit = (event: string | symbol, ...args: unknown[]): boolean => {
      const results = args[0] as WriteResult[] | WriterReady;
      if (
        event === 'message' &&
        Array.isArray(results) &&
        results.some((r) => logJobs.has(r.id) && 'changes' in r) // committed: the reply says so
      ) {
        worker.emit = emit;
        void worker.terminate().then(() => resolve(worker));
        return true;
      }
      return emit(event, ...args);
    };
  });
}

describe('durability: the SQLite writer thread dies between its commit and its reply', () => {
  let app: TestApp;
  let storage: Storage;
  let publishers: NumberedPublisher[] = [];

  beforeAll(async () => {
    storage = await freshStorage();
    app = await bootApp(
      {
        MQTT_URL: undefined,
        REDIS_URL: undefined,
        DATABASE_URL: `sqlite:${storage.dataDir}/writer-kill.sqlite`,
        TOPIC_PREFIX: 'things',
        AUTH: 'off',
      },
      storage,
    );
    // Half the devices send no message_id: the batch key alone must keep their messages single.
    publishers = [
      ...startPublishers(app.mqttUrl, 'things', 'w', DEVICES / 2, { rate: 50 }),
      ...startPublishers(app.mqttUrl, 'things', 'anon', DEVICES / 2, { rate: 50, messageIds: false }),
    ];
  });

  afterAll(async () => {
    publishers.forEach((p) => p.close());
    await app?.stop();
    await storage?.dispose();
  });

  it(`logs every acknowledged message once across ${KILLS} thread deaths`, async () => {
    const writer = app.app.get(BatchWriter);
    expect(writer.offThread).toBe(true);
    const killed: Worker[] = [];
    for (let kill = 1; kill <= KILLS; kill++) {
      await acknowledgedMore(publishers, 40, `before kill ${kill}`);
      // The next job starts a new thread; wait for it so the fault hits that one.
      const current = await waitFor(
        () => {
          const worker = (writer as unknown as Internals).worker;
          return worker !== undefined && !killed.includes(worker) ? worker : undefined;
        },
        `a writer thread after kill ${kill - 1}`,
      );
      killed.push(current);
      await dieAfterNextLogCommit(writer);
    }
    await acknowledgedMore(publishers, 40, 'after the last kill');
    await stopAndSettle(publishers);

    const { counts, problems } = await countLogged(app.url, publishers);
    console.log(faultLine('writer-thread', 'embedded+sqlite', counts, { kills: KILLS, devices: DEVICES }));
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ missing: 0, duplicated: 0, reordered: 0 });
  }, 90_000);
});

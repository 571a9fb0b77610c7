/**
 * The SQLite checkpointer thread (see BatchWriter): a connection of its own
 * that copies the WAL back into the database file with PASSIVE checkpoints,
 * beside the writer thread's transactions and never in them. A checkpoint
 * syncs both files (two fsyncs, 4-15 ms each on the bench machine); inside a
 * commit, as SQLite's automatic checkpoint runs, every event of that commit
 * and of the ones queued behind it waited for them (issue #17). SQLite's
 * own advice: "If an application runs checkpoint in a separate thread or
 * process, the main thread or process that is doing database queries and
 * updates will never block on a sync operation" (sqlite.org/wal.html).
 *
 * A PASSIVE checkpoint never lets the WAL start over from its beginning:
 * that happens only when a writer begins while every page is copied back, a
 * moment a steady stream of commits may never leave (a checkpoint copies up
 * to the last commit it saw, and takes milliseconds to sync). So once the
 * WAL is past `restartPages`, this thread asks the writer
 * (WalState.restartWanted) to run one RESTART checkpoint between two of its
 * transactions; by then nearly everything is copied, so that one is short.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CheckpointerOptions } from './sqlite-writer.protocol';
import type { CheckpointResult } from './wal-state';
import { WalState } from './wal-state';

const port = parentPort;
if (!port) throw new Error('sqlite-checkpointer.worker runs as a worker thread');
const options = workerData as CheckpointerOptions;
const db = new Database(options.path, { timeout: options.busyTimeoutMs });
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
const wal = new WalState(options.walState);
let timer: NodeJS.Timeout | undefined;

function round(): void {
  timer = undefined;
  // Asked for a restart: the writer's turn, between its transactions (rounds here would hold the lock it needs).
  if (!wal.restartWanted && wal.tryLock(1)) {
    try {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[];
      wal.pages = result;
      // Even when this copied everything it saw, the writer has most likely committed since: only a
      // transaction that begins while all is copied starts the WAL over, so the writer is asked.
      wal.restartWanted = result.log >= options.restartPages;
    } catch {
      // Locked or busy: the next round tries again; the writer's safety autocheckpoint bounds the WAL meanwhile.
    } finally {
      wal.unlock();
    }
  }
  // Near a restart, rounds come closer, so what is left for the writer's RESTART to copy and sync is short.
  const soon = wal.pages.log >= options.restartPages / 2;
  timer = setTimeout(round, soon ? options.nearRestartIntervalMs : options.intervalMs);
}

port.on('message', (message: 'close') => {
  if (message !== 'close') return;
  clearTimeout(timer);
  db.close();
  port.close();
});
round();
port.postMessage('ready');

/**
 * The SQLite checkpoint thread (see BatchWriter). Every WAL commit would
 * otherwise, now and then, copy thousands of pages back into the database
 * file and sync it inside the commit that crossed the threshold: that was
 * half the bridge's delivery tail at 1,000 msg/s. Here a connection of its
 * own runs PASSIVE checkpoints on a timer; they never take the write lock,
 * so commits go on meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CheckpointOptions } from './sqlite-writer.protocol';

const port = parentPort;
if (!port) throw new Error('sqlite-checkpoint.worker runs as a worker thread');
const options = workerData as CheckpointOptions;
const db = new Database(options.path, { timeout: options.busyTimeoutMs });
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    // A busy or failed checkpoint is retried at the next tick; the WAL only grows meanwhile.
    port.postMessage({ checkpointError: String(err) });
  }
}, options.everyMs);
port.on('message', (message: 'close') => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  port.close();
});
port.postMessage('ready');

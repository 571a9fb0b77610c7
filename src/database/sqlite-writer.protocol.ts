/** Messages between BatchWriter and its worker threads (writer and checkpointer). */

/** One SQL statement with positional (`?`) parameters. */
export interface WriteStatement {
  sql: string;
  params: unknown[];
  /** The job fails (and is undone) unless the statement changes exactly this many rows. */
  expectChanges?: number;
}

/** Statements that commit together or not at all. */
export interface WriteJob {
  id: number;
  statements: WriteStatement[];
}

/** Rows changed by each statement, or why the job was undone (with SQLite's result code, when it gave one). */
export type WriteResult = { id: number; changes: number[] } | { id: number; error: string; code?: string };

export interface WriterOptions {
  path: string;
  busyTimeoutMs: number;
  /** SQLite's own automatic checkpoint, a safety net only: the checkpointer thread keeps the WAL far below it. */
  walAutocheckpointPages: number;
  /** `PRAGMA synchronous` (SQLITE_SYNCHRONOUS). */
  synchronous: 'FULL' | 'NORMAL';
  /** WalState's buffer, shared with the checkpointer thread. */
  walState: SharedArrayBuffer;
}

/** The thread's first message: its connection is open, with SQLite's own `synchronous` value (2 = FULL). */
export interface WriterReady {
  ready: true;
  synchronous: number;
}

export interface CheckpointerOptions {
  path: string;
  busyTimeoutMs: number;
  /** Pause between two PASSIVE checkpoints (each that copies anything syncs both files). */
  intervalMs: number;
  /** The same once the WAL is past half of `restartPages`. */
  nearRestartIntervalMs: number;
  /** WAL pages past which the writer is asked for a RESTART checkpoint (the WAL then starts over). */
  restartPages: number;
  walState: SharedArrayBuffer;
}

/** Messages between SqliteWriter and its worker thread. */

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
  walAutocheckpointPages: number;
  /** `PRAGMA synchronous` (SQLITE_SYNCHRONOUS). */
  synchronous: 'FULL' | 'NORMAL';
}

/** The thread's first message: its connection is open, with SQLite's own `synchronous` value (2 = FULL). */
export interface WriterReady {
  ready: true;
  synchronous: number;
}

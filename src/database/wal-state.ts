/**
 * What the SQLite writer thread and the checkpointer thread share (one
 * SharedArrayBuffer, Atomics only): who may checkpoint now, and whether the
 * WAL has grown past the point where the writer must make it start over.
 * See docs/architecture.md, "Writes off the event loop".
 */
export class WalState {
  private static readonly LOCK = 0;
  private static readonly RESTART_WANTED = 1;
  private static readonly LOG_PAGES = 2;
  private static readonly CHECKPOINTED_PAGES = 3;
  private static readonly FREE = 0;
  private readonly cells: Int32Array;

  constructor(readonly buffer = new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT)) {
    this.cells = new Int32Array(buffer);
  }

  /**
   * Takes the checkpoint lock for `holder` (1: the checkpointer's round, 2:
   * the writer's restart) when nobody holds it; false otherwise (never waits).
   */
  tryLock(holder: 1 | 2): boolean {
    return Atomics.compareExchange(this.cells, WalState.LOCK, WalState.FREE, holder) === WalState.FREE;
  }

  unlock(): void {
    Atomics.store(this.cells, WalState.LOCK, WalState.FREE);
  }

  /** Frees the lock if `holder` has it: for the thread that started `holder`, once that thread is gone. */
  releaseIfHeldBy(holder: 1 | 2): void {
    Atomics.compareExchange(this.cells, WalState.LOCK, holder, WalState.FREE);
  }

  /** True once the checkpointer found the WAL too long to wait for a quiet moment. */
  get restartWanted(): boolean {
    return Atomics.load(this.cells, WalState.RESTART_WANTED) === 1;
  }

  set restartWanted(wanted: boolean) {
    Atomics.store(this.cells, WalState.RESTART_WANTED, wanted ? 1 : 0);
  }

  /** The last checkpoint's answer: pages in the WAL, and how many of them are in the database file. */
  get pages(): { log: number; checkpointed: number } {
    return {
      log: Atomics.load(this.cells, WalState.LOG_PAGES),
      checkpointed: Atomics.load(this.cells, WalState.CHECKPOINTED_PAGES),
    };
  }

  set pages({ log, checkpointed }: { log: number; checkpointed: number }) {
    Atomics.store(this.cells, WalState.LOG_PAGES, log);
    Atomics.store(this.cells, WalState.CHECKPOINTED_PAGES, checkpointed);
  }
}

/** One row of `PRAGMA wal_checkpoint(…)`. */
export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

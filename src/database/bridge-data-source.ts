import type { EntityManager } from 'typeorm';
import { DataSource } from 'typeorm';
import type { IsolationLevel } from 'typeorm/driver/types/IsolationLevel';

type Work<T> = (entityManager: EntityManager) => Promise<T>;

/**
 * TypeORM's DataSource, with one change for SQLite: transactions run one at
 * a time.
 *
 * better-sqlite3 has one connection, and TypeORM hands every caller the same
 * query runner. Two transactions that overlap in time (the event log's group
 * commit and the device writer's, say) then share one SQLite transaction:
 * the second `BEGIN` fails ("cannot start a transaction within a
 * transaction") or becomes a savepoint of the first, so one commit releases
 * the other's savepoint and one rollback undoes the other's rows, events the
 * bus has already delivered included. PostgreSQL gives each transaction its
 * own pooled connection and needs none of this.
 *
 * A transaction must not open another one through the DataSource (it would
 * wait for itself); nested work goes through the EntityManager it is given.
 */
export class BridgeDataSource extends DataSource {
  private tail: Promise<unknown> = Promise.resolve();

  override transaction<T>(work: Work<T>): Promise<T>;
  override transaction<T>(isolationLevel: IsolationLevel, work: Work<T>): Promise<T>;
  override transaction<T>(first: IsolationLevel | Work<T>, second?: Work<T>): Promise<T> {
    const run = (): Promise<T> =>
      typeof first === 'function' ? super.transaction(first) : super.transaction(first, second as Work<T>);
    if (this.options.type !== 'better-sqlite3') return run();
    const result = this.tail.then(run);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

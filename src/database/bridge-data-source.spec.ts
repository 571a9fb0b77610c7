import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { BridgeDataSource } from './bridge-data-source';

/** Two writers that overlap in time, as the event log and the device writer do under load. */
async function overlappingWrites(db: DataSource): Promise<PromiseSettledResult<unknown>[]> {
  const write =
    (table: string, fail: boolean) =>
    async (tx: EntityManager): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await tx.query(`INSERT INTO ${table} (n) VALUES (?)`, [i]);
        // Let the other writer run between statements.
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (fail) throw new Error(`${table} gives up`);
    };
  return Promise.allSettled([db.transaction(write('kept', false)), db.transaction(write('undone', true))]);
}

async function open(Kind: typeof DataSource): Promise<DataSource> {
  const db = new Kind({ type: 'better-sqlite3', database: ':memory:' });
  await db.initialize();
  await db.query('CREATE TABLE kept (n INTEGER)');
  await db.query('CREATE TABLE undone (n INTEGER)');
  return db;
}

const count = async (db: DataSource, table: string): Promise<number> =>
  (await db.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${table}`))[0].n;

describe('BridgeDataSource on SQLite', () => {
  it("keeps overlapping transactions apart: one's rollback leaves the other's committed rows", async () => {
    const db = await open(BridgeDataSource);
    try {
      const [kept, undone] = await overlappingWrites(db);
      expect(kept.status).toBe('fulfilled');
      expect(undone).toMatchObject({ status: 'rejected', reason: new Error('undone gives up') });
      expect(await count(db, 'kept')).toBe(3);
      expect(await count(db, 'undone')).toBe(0);
      // Nothing is left open: a later transaction starts and commits normally.
      await db.transaction((tx) => tx.query('INSERT INTO kept (n) VALUES (9)'));
      expect(await count(db, 'kept')).toBe(4);
    } finally {
      await db.destroy();
    }
  });

  it('guards against what plain TypeORM does with one shared SQLite connection', async () => {
    const db = await open(DataSource);
    try {
      const [kept, undone] = await overlappingWrites(db);
      const committed = kept.status === 'fulfilled' ? await count(db, 'kept') : 0;
      // Either the second BEGIN fails, or the writers share one transaction and the rollback takes both.
      expect(kept.status === 'rejected' || committed !== 3 || undone.status === 'fulfilled').toBe(true);
    } finally {
      await db.destroy().catch(() => undefined);
    }
  });

  it('runs transactions in the order they were asked for, also after one fails', async () => {
    const db = await open(BridgeDataSource);
    try {
      const order: string[] = [];
      const step =
        (name: string, fail = false) =>
        async (): Promise<void> => {
          order.push(`${name} start`);
          await new Promise((resolve) => setImmediate(resolve));
          order.push(`${name} end`);
          if (fail) throw new Error(name);
        };
      await Promise.allSettled([db.transaction(step('a')), db.transaction(step('b', true)), db.transaction(step('c'))]);
      expect(order).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    } finally {
      await db.destroy();
    }
  });
});

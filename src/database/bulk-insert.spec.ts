import { BulkInsert } from './bulk-insert';

const columns = [
  { name: 'a', pgType: 'varchar' as const },
  { name: 'b', pgType: 'bigint' as const },
];

describe('BulkInsert', () => {
  it('splits SQLite rows into chunks of ? marks, sharing one text per full chunk', () => {
    const insert = new BulkInsert('t', columns, false, ' ON CONFLICT (a) DO NOTHING', 2);
    const statements = insert.statements(['x', 1, 'y', 2, 'z', 3, 'w', 4, 'v', 5]);
    expect(statements.map((s) => s.params)).toEqual([['x', 1, 'y', 2], ['z', 3, 'w', 4], ['v', 5]]);
    expect(statements[0].sql).toBe('INSERT INTO t (a, b) VALUES (?,?),(?,?) ON CONFLICT (a) DO NOTHING');
    expect(statements[1].sql).toBe(statements[0].sql);
    expect(statements[2].sql).toBe('INSERT INTO t (a, b) VALUES (?,?) ON CONFLICT (a) DO NOTHING');
  });

  it('gives PostgreSQL one statement with an array per column', () => {
    const insert = new BulkInsert('t', columns, true);
    expect(insert.statements(['x', 1, 'y', null])).toEqual([
      { sql: 'INSERT INTO t (a, b) SELECT * FROM unnest($1::varchar[], $2::bigint[])', params: [['x', 'y'], [1, null]] },
    ]);
  });

  it('makes no statement for no rows, and refuses values that do not fill whole rows', () => {
    const insert = new BulkInsert('t', columns, false);
    expect(insert.statements([])).toEqual([]);
    expect(() => insert.statements(['x', 1, 'y'])).toThrow('3 values do not make rows of 2');
  });
});

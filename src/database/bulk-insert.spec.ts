import { BulkInsert } from './bulk-insert';

const columns = [
  { name: 'a', pgType: 'varchar' as const },
  { name: 'b', pgType: 'bigint' as const },
];

describe('BulkInsert', () => {
  it('splits SQLite rows into chunks of ? marks, sharing one text per full chunk', () => {
    const insert = new BulkInsert('t', columns, false, ' ON CONFLICT (a) DO NOTHING', 2);
    const statements = insert.statements(['x', 1, 'y', 2, 'z', 3, 'w', 4, 'v', 5]);
    expect(statements.map((s) => s.params)).toEqual([
      ['x', 1, 'y', 2],
      ['z', 3, 'w', 4],
      ['v', 5],
    ]);
    expect(statements[0].sql).toBe('INSERT INTO t (a, b) VALUES (?,?),(?,?) ON CONFLICT (a) DO NOTHING');
    expect(statements[1].sql).toBe(statements[0].sql);
    expect(statements[2].sql).toBe('INSERT INTO t (a, b) VALUES (?,?) ON CONFLICT (a) DO NOTHING');
  });

  it('gives PostgreSQL one statement with the rows as one JSON parameter', () => {
    const insert = new BulkInsert('t', columns, true);
    expect(insert.statements(['x', 1, 'y', null])).toEqual([
      {
        sql: 'INSERT INTO t (a, b) SELECT a, b FROM json_to_recordset($1::json) AS r(a varchar, b bigint)',
        params: [
          JSON.stringify([
            { a: 'x', b: 1 },
            { a: 'y', b: null },
          ]),
        ],
      },
    ]);
  });

  it('replaces what PostgreSQL text cannot hold, so one odd string cannot fail a batch', () => {
    const insert = new BulkInsert('t', columns, true);
    const [{ params }] = insert.statements(['a\u0000b', 1, 'lone \ud800 surrogate', 2, 'pair \ud83d\ude00 kept', 3]);
    expect(JSON.parse(params[0] as string)).toEqual([
      { a: 'a\ufffdb', b: 1 },
      { a: 'lone \ufffd surrogate', b: 2 },
      { a: 'pair \ud83d\ude00 kept', b: 3 },
    ]);
  });

  it('makes no statement for no rows, and refuses values that do not fill whole rows', () => {
    const insert = new BulkInsert('t', columns, false);
    expect(insert.statements([])).toEqual([]);
    expect(() => insert.statements(['x', 1, 'y'])).toThrow('3 values do not make rows of 2');
  });
});

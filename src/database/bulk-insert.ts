import type { WriteStatement } from './sqlite-writer.protocol';

/** A column of a bulk insert, with its PostgreSQL array type. */
export interface BulkColumn {
  name: string;
  pgType: 'varchar' | 'text' | 'bigint' | 'float8';
}

/**
 * Many rows into one table in few statements, without the query builder
 * (which spent more time escaping a batch's values than the database spent
 * storing them).
 *
 * SQLite: multi-row `VALUES` with `?` marks, a chunk at a time (SQLite allows
 * 32,766 parameters); full chunks share one text, so one prepared statement.
 * PostgreSQL: one array per column, `SELECT * FROM unnest(…)`: a statement of
 * a few parameters that the server parses once, where a `VALUES` list of
 * thousands of parameters cost it more than storing the rows.
 */
export class BulkInsert {
  private readonly head: string;
  private readonly sqliteText = new Map<number, string>();
  private readonly pgText: string;

  /**
   * @param suffix appended to every statement, e.g. an `ON CONFLICT` clause.
   * @param rowsPerChunk rows per SQLite statement. @default 500
   */
  constructor(
    table: string,
    private readonly columns: readonly BulkColumn[],
    private readonly postgres: boolean,
    private readonly suffix = '',
    private readonly rowsPerChunk = 500,
  ) {
    this.head = `INSERT INTO ${table} (${columns.map((c) => c.name).join(', ')})`;
    const arrays = columns.map((c, i) => `$${i + 1}::${c.pgType}[]`);
    this.pgText = `${this.head} SELECT * FROM unnest(${arrays.join(', ')})${suffix}`;
  }

  /** Statements for `values`: the rows one after another, a value per column each. */
  statements(values: readonly unknown[]): WriteStatement[] {
    const width = this.columns.length;
    if (values.length % width !== 0) throw new Error(`${values.length} values do not make rows of ${width}`);
    const rows = values.length / width;
    if (rows === 0) return [];
    if (this.postgres) {
      const arrays: unknown[][] = this.columns.map(() => new Array<unknown>(rows));
      for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) arrays[c][r] = values[r * width + c];
      return [{ sql: this.pgText, params: arrays }];
    }
    const statements: WriteStatement[] = [];
    for (let r = 0; r < rows; r += this.rowsPerChunk) {
      const n = Math.min(this.rowsPerChunk, rows - r);
      const params = n === rows ? values : values.slice(r * width, (r + n) * width);
      statements.push({ sql: this.sqliteSql(n), params: params as unknown[] });
    }
    return statements;
  }

  private sqliteSql(rows: number): string {
    let sql = this.sqliteText.get(rows);
    if (sql === undefined) {
      const tuple = `(${this.columns.map(() => '?').join(',')})`;
      sql = `${this.head} VALUES ${Array.from({ length: rows }, () => tuple).join(',')}${this.suffix}`;
      // The full chunk always; a few partial sizes besides.
      if (rows === this.rowsPerChunk || this.sqliteText.size < 32) this.sqliteText.set(rows, sql);
    }
    return sql;
  }
}

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
 * PostgreSQL: the rows as one JSON parameter, `json_to_recordset`: a
 * statement the server parses once, where a `VALUES` list of thousands of
 * parameters cost it more than storing the rows (and one array per column,
 * `unnest`, cost the driver more in escaping than JSON.stringify does).
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
    const names = columns.map((c) => c.name).join(', ');
    const types = columns.map((c) => `${c.name} ${c.pgType === 'float8' ? 'float8' : c.pgType}`).join(', ');
    this.pgText = `${this.head} SELECT ${names} FROM json_to_recordset($1::json) AS r(${types})${suffix}`;
  }

  /** Statements for `values`: the rows one after another, a value per column each. */
  statements(values: readonly unknown[]): WriteStatement[] {
    const width = this.columns.length;
    if (values.length % width !== 0) throw new Error(`${values.length} values do not make rows of ${width}`);
    const rows = values.length / width;
    if (rows === 0) return [];
    if (this.postgres) {
      const records: Record<string, unknown>[] = new Array<Record<string, unknown>>(rows);
      for (let r = 0; r < rows; r++) {
        const record: Record<string, unknown> = {};
        for (let c = 0; c < width; c++) record[this.columns[c].name] = pgSafe(values[r * width + c]);
        records[r] = record;
      }
      return [{ sql: this.pgText, params: [JSON.stringify(records)] }];
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

/** Characters PostgreSQL text cannot hold (NUL) or JSON cannot carry to it (lone surrogates). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const PG_UNSAFE = /[\u0000\ud800-\udfff]/;

/**
 * A string PostgreSQL will store: NUL and lone surrogates become U+FFFD, as
 * the driver's UTF-8 encoding did for surrogates, rather than failing the
 * whole batch (and every retry of it) for one device's odd reading name.
 */
export function pgSafe(value: unknown): unknown {
  if (typeof value !== 'string' || !PG_UNSAFE.test(value)) return value;
  const withoutNul = value.split('\u0000').join('\ufffd');
  return (withoutNul as string & { toWellFormed(): string }).toWellFormed();
}

/**
 * Telling a write the data makes fail from one the database's state makes
 * fail (issue #11, item 4): the first kind fails every retry, so the bus
 * finds the refused rows instead of retrying forever; anything else
 * (connections, timeouts, locks, a full disk, a server shutting down) is
 * worth retrying.
 */

/** A write refused for its data before it reached the database, e.g. an event that does not serialise to JSON. */
export class RefusedWrite extends Error {
  readonly code = 'refused_write';
}

/**
 * SQLite extended result codes caused by the rows written: constraints
 * (`SQLITE_CONSTRAINT_UNIQUE`, `_CHECK`, `_NOTNULL`, `_TRIGGER`, …), a value
 * of the wrong type, a string or blob over the size limit.
 */
const SQLITE_REFUSED = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG)/;

/**
 * PostgreSQL SQLSTATE classes caused by the rows written: 22 data exception
 * (value too long, invalid input syntax, untranslatable character), 23
 * integrity constraint violation; and 54000 program limit exceeded (an
 * index row too large).
 */
const PG_REFUSED = /^(22|23)[0-9A-Z]{3}$|^54000$/;

/** The driver's error code: better-sqlite3's and pg's errors carry it, TypeORM's QueryFailedError copies it. */
function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, driverError } = err as { code?: unknown; driverError?: { code?: unknown } };
  const found = typeof code === 'string' ? code : driverError?.code;
  return typeof found === 'string' ? found : undefined;
}

/** True when a retry of the same write cannot succeed. */
export function refusedForItsData(err: unknown): boolean {
  if (err instanceof RefusedWrite) return true;
  const code = codeOf(err);
  return code !== undefined && (SQLITE_REFUSED.test(code) || PG_REFUSED.test(code));
}

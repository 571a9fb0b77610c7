import { InvalidRequestError } from '../common/domain-error';
import type { Aggregate } from './devices.repository';

export const DEFAULT_READINGS_LIMIT = 1000;
export const MAX_READINGS_LIMIT = 10_000;
const AGGREGATES: readonly Aggregate[] = ['avg', 'min', 'max', 'count'];
const INTERVAL_UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MIN_INTERVAL_MS = 1000;
const MAX_INTERVAL_MS = 366 * 86_400_000;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const EPOCH_MS = /^\d{1,15}$/;

/** `GET /api/devices/{type}/{id}/readings` parameters, validated. */
export interface ReadingsQuery {
  /** Inclusive, ms since the epoch. */
  startMs?: number;
  endMs?: number;
  limit: number;
  /** Only this reading (`?reading=temperature`). */
  name?: string;
  /** `?interval=1m&agg=avg`: one value per reading per interval. */
  bucket?: { interval: string; widthMs: number; agg: Aggregate };
  /**
   * Which end of a range holding more than `limit` rows is answered: from
   * `start` on when it is given, else the most recent (both oldest first).
   */
  keep: 'earliest' | 'latest';
}

/** Parses the query string; throws one 400 naming each bad parameter. */
export function parseReadingsQuery(query: Record<string, unknown>): ReadingsQuery {
  const problems: Record<string, string> = {};
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') {
      problems[name] = 'must be given once';
      return undefined;
    }
    return value;
  };

  const time = (name: string): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const ms = EPOCH_MS.test(value) ? Number(value) : ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms)) problems[name] = 'must be an ISO 8601 time or milliseconds since the epoch';
    return Number.isNaN(ms) ? undefined : ms;
  };
  const startMs = time('start');
  const endMs = time('end');
  if (startMs !== undefined && endMs !== undefined && endMs < startMs) problems.end = 'must not be before start';

  let limit = DEFAULT_READINGS_LIMIT;
  const limitText = text('limit');
  if (limitText !== undefined) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_READINGS_LIMIT) {
      problems.limit = `must be an integer from 1 to ${MAX_READINGS_LIMIT}`;
    }
  }

  const name = text('reading');
  if (name !== undefined && !/^[^\s]{1,128}$/.test(name)) problems.reading = 'must be a reading name';

  let bucket: ReadingsQuery['bucket'];
  const interval = text('interval');
  const agg = text('agg');
  if (interval !== undefined) {
    const match = /^(\d{1,6})([smhd])$/.exec(interval);
    const widthMs = match ? Number(match[1]) * INTERVAL_UNITS_MS[match[2]] : Number.NaN;
    if (!(widthMs >= MIN_INTERVAL_MS && widthMs <= MAX_INTERVAL_MS)) {
      problems.interval = 'must be a duration from 1s to 366d such as 30s, 1m, 15m, 1h or 1d';
    }
    if (agg !== undefined && !(AGGREGATES as readonly string[]).includes(agg))
      problems.agg = `must be one of ${AGGREGATES.join(', ')}`;
    bucket = { interval, widthMs, agg: (agg ?? 'avg') as Aggregate };
  } else if (agg !== undefined) {
    problems.agg = 'needs interval (for example interval=1m&agg=avg)';
  }

  if (Object.keys(problems).length > 0) throw new InvalidRequestError(problems);
  return {
    ...(startMs !== undefined ? { startMs } : {}),
    ...(endMs !== undefined ? { endMs } : {}),
    limit,
    ...(name !== undefined ? { name } : {}),
    ...(bucket ? { bucket } : {}),
    keep: startMs !== undefined ? 'earliest' : 'latest',
  };
}

import { z } from 'zod';
import { parseOrThrow, queryNumber, queryText } from '../common/validate';
import type { Aggregate } from './devices.repository';

export const DEFAULT_READINGS_LIMIT = 1000;
export const MAX_READINGS_LIMIT = 10_000;
const AGGREGATES: readonly Aggregate[] = ['avg', 'min', 'max', 'count'];
const INTERVAL_UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MIN_INTERVAL_MS = 1000;
const MAX_INTERVAL_MS = 366 * 86_400_000;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const EPOCH_MS = /^\d{1,15}$/;
const INTERVAL = /^(\d{1,6})([smhd])$/;

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

const TIME_RULE = 'must be an ISO 8601 time or milliseconds since the epoch';
const time = (description: string): z.ZodType<number | undefined, string | undefined> =>
  queryText(/^.{1,64}$/, TIME_RULE)
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const ms = EPOCH_MS.test(value) ? Number(value) : ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
      if (!Number.isNaN(ms)) return ms;
      ctx.addIssue({ code: 'custom', message: TIME_RULE });
      return z.NEVER;
    })
    .meta({ description });

/** `?start&end` (ISO 8601 or epoch ms), `?limit`, `?reading`, `?interval=1m&agg=avg|min|max|count`. */
export const READINGS_QUERY = z
  .object({
    start: time('Inclusive; ISO 8601 or epoch milliseconds.'),
    end: time('Inclusive; ISO 8601 or epoch milliseconds.'),
    limit: queryNumber({
      min: 1,
      max: MAX_READINGS_LIMIT,
      fallback: DEFAULT_READINGS_LIMIT,
      message: `must be an integer from 1 to ${MAX_READINGS_LIMIT}`,
    }).meta({ description: `Samples (or buckets) at most (default ${DEFAULT_READINGS_LIMIT}).` }),
    reading: queryText(/^[^\s]{1,128}$/, 'must be a reading name').meta({
      description: 'Only this reading, e.g. `temperature`.',
    }),
    interval: queryText(INTERVAL, 'must be a duration from 1s to 366d such as 30s, 1m, 15m, 1h or 1d').meta({
      description: 'Bucket width, `1s` to `366d` (e.g. `30s`, `1m`, `1h`).',
    }),
    agg: queryText(new RegExp(`^(${AGGREGATES.join('|')})$`), `must be one of ${AGGREGATES.join(', ')}`).meta({
      description: 'Bucket aggregate (default `avg`); needs `interval`.',
      enum: [...AGGREGATES],
    }),
  })
  .transform((q, ctx): ReadingsQuery => {
    if (q.start !== undefined && q.end !== undefined && q.end < q.start) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must not be before start' });
    }
    let bucket: ReadingsQuery['bucket'];
    if (q.interval !== undefined) {
      const match = INTERVAL.exec(q.interval) as RegExpExecArray;
      const widthMs = Number(match[1]) * INTERVAL_UNITS_MS[match[2]];
      if (widthMs >= MIN_INTERVAL_MS && widthMs <= MAX_INTERVAL_MS)
        bucket = { interval: q.interval, widthMs, agg: (q.agg ?? 'avg') as Aggregate };
      else
        ctx.addIssue({
          code: 'custom',
          path: ['interval'],
          message: 'must be a duration from 1s to 366d such as 30s, 1m, 15m, 1h or 1d',
        });
    } else if (q.agg !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['agg'], message: 'needs interval (for example interval=1m&agg=avg)' });
    }
    return {
      ...(q.start !== undefined ? { startMs: q.start } : {}),
      ...(q.end !== undefined ? { endMs: q.end } : {}),
      limit: q.limit,
      ...(q.reading !== undefined ? { name: q.reading } : {}),
      ...(bucket ? { bucket } : {}),
      keep: q.start !== undefined ? 'earliest' : 'latest',
    };
  });

/** Parses the query string outside a request; throws one 400 naming each bad parameter. */
export function parseReadingsQuery(query: Record<string, unknown>): ReadingsQuery {
  return parseOrThrow(READINGS_QUERY, query);
}

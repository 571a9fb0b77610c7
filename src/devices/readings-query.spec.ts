import { InvalidRequestError } from '../common/domain-error';
import { parseReadingsQuery } from './readings-query';

function problems(query: Record<string, unknown>): Record<string, string> {
  try {
    parseReadingsQuery(query);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    return (err as InvalidRequestError).fields ?? {};
  }
  throw new Error('expected the query to be refused');
}

describe('parseReadingsQuery', () => {
  it('defaults to the latest 1000 raw readings', () => {
    expect(parseReadingsQuery({})).toEqual({ limit: 1000, keep: 'latest' });
  });

  it('reads start and end as ISO 8601 or epoch milliseconds, and pages forward from start', () => {
    expect(parseReadingsQuery({ start: '2025-01-15T12:00:00Z', end: '1736946000000', limit: '10' })).toEqual({
      startMs: Date.UTC(2025, 0, 15, 12),
      endMs: 1736946000000,
      limit: 10,
      keep: 'earliest',
    });
    expect(parseReadingsQuery({ start: '2025-01-15' }).startMs).toBe(Date.UTC(2025, 0, 15));
    expect(parseReadingsQuery({ end: '2025-01-15T13:00:00.250+01:00' }).endMs).toBe(
      Date.UTC(2025, 0, 15, 12, 0, 0, 250),
    );
  });

  it('turns interval and agg into a bucket width in milliseconds, avg by default', () => {
    expect(parseReadingsQuery({ interval: '1m', agg: 'max' }).bucket).toEqual({
      interval: '1m',
      widthMs: 60_000,
      agg: 'max',
    });
    expect(parseReadingsQuery({ interval: '15m' }).bucket).toEqual({ interval: '15m', widthMs: 900_000, agg: 'avg' });
    expect(parseReadingsQuery({ interval: '30s', agg: 'count' }).bucket?.widthMs).toBe(30_000);
    expect(parseReadingsQuery({ interval: '2h', agg: 'min' }).bucket?.widthMs).toBe(7_200_000);
    expect(parseReadingsQuery({ interval: '1d', agg: 'avg' }).bucket?.widthMs).toBe(86_400_000);
  });

  it('names each bad parameter at once', () => {
    expect(
      problems({ start: 'yesterday', end: '2025-13-45T99:00Z', limit: '0', interval: '5 minutes', agg: 'median' }),
    ).toEqual({
      start: expect.stringContaining('ISO 8601'),
      end: expect.stringContaining('ISO 8601'),
      limit: expect.stringContaining('1 to 10000'),
      interval: expect.stringContaining('1m'),
      agg: expect.stringContaining('avg, min, max, count'),
    });
  });

  it('refuses a limit above 10000, a fractional limit, and an end before the start', () => {
    expect(Object.keys(problems({ limit: '10001' }))).toEqual(['limit']);
    expect(Object.keys(problems({ limit: '2.5' }))).toEqual(['limit']);
    expect(problems({ start: '2000', end: '1000' })).toEqual({ end: 'must not be before start' });
  });

  it('refuses intervals shorter than a second or longer than 366 days, and agg without interval', () => {
    expect(Object.keys(problems({ interval: '0m' }))).toEqual(['interval']);
    expect(Object.keys(problems({ interval: '367d' }))).toEqual(['interval']);
    expect(Object.keys(problems({ interval: '1ms' }))).toEqual(['interval']);
    expect(problems({ agg: 'avg' })).toEqual({ agg: expect.stringContaining('needs interval') });
  });

  it('refuses a parameter given twice', () => {
    expect(problems({ limit: ['1', '2'] })).toEqual({ limit: 'must be given once' });
  });
});

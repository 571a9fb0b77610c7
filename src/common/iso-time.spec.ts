import { isoMs, isoTime } from './iso-time';

describe('isoTime and isoMs', () => {
  it('answer as new Date(ms).toISOString() and Date.parse do, however the calls alternate', () => {
    const times = [0, 1, 1, 1_736_942_400_000, 1_736_942_400_000, 1_736_942_400_001, 1];
    for (const ms of times) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      expect(isoMs(isoTime(ms))).toBe(ms);
    }
    for (const text of ['2025-01-15T13:00:00+02:00', '2025-01-15T13:00:00+02:00', 'not a time', '2025-01-15'])
      expect(isoMs(text)).toEqual(Date.parse(text));
  });
});

import { StageClock } from './stage-clock';

describe('StageClock', () => {
  afterEach(() => StageClock.stop());

  it('stamps nothing until started', () => {
    StageClock.mark({}, 'received', 1);
    expect(StageClock.on).toBe(false);
    expect(StageClock.stop()).toBeUndefined();
  });

  it('reports each stage after the one before, for events that went through every stage', () => {
    StageClock.start();
    const events = [{}, {}, {}];
    events.forEach((data, i) => {
      StageClock.mark(data, 'received', 0);
      StageClock.mark(data, 'queued', 1);
      StageClock.mark(data, 'sealed', 1 + i);
      StageClock.mark(data, 'committed', 10 + i);
      StageClock.mark(data, 'sent', 11 + i);
      // A second socket's write does not move the first one's.
      StageClock.mark(data, 'sent', 50);
    });
    // Stamped after `received` only: not in the report.
    StageClock.mark({}, 'queued', 5);
    const lost = {};
    StageClock.mark(lost, 'received', 0);
    const report = StageClock.stop();
    expect(report?.delays.map((d) => [d.from, d.to, d.count, d.p50, d.max])).toEqual([
      ['received', 'queued', 3, 1, 1],
      ['queued', 'sealed', 3, 1, 2],
      ['sealed', 'committed', 3, 9, 9],
      ['committed', 'sent', 3, 1, 1],
    ]);
    // The slowest 1% is the one slowest event here (13 ms in all).
    expect(report?.tail.map((t) => t.meanMs)).toEqual([1, 2, 9, 1]);
    expect(StageClock.on).toBe(false);
  });
});

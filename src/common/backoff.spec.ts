import { Backoff } from './backoff';

describe('Backoff', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('doubles the ceiling each attempt up to the cap, jittered within [ceiling/2, ceiling]', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    expect(Array.from({ length: 7 }, () => low.nextDelay())).toEqual([50, 100, 200, 400, 500, 500, 500]);
    const high = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect(Array.from({ length: 7 }, () => high.nextDelay())).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('spreads instances that retry at the same moment', () => {
    const values = [0.1, 0.9];
    const delays = values.map((v) => new Backoff({ initialMs: 1000, random: () => v }).nextDelay());
    expect(delays).toEqual([550, 950]);
  });

  it('never waits longer than the cap, however long the outage', () => {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    for (let i = 0; i < 200; i++) expect(backoff.nextDelay()).toBeLessThanOrEqual(30_000);
    expect(backoff.attempts).toBe(200);
  });

  it('fires the scheduled retry after its delay, and only then', () => {
    const backoff = new Backoff({ initialMs: 1000, random: () => 0.5 });
    const retry = jest.fn();
    expect(backoff.schedule(retry)).toBe(750);
    expect(backoff.pending).toBe(true);
    jest.advanceTimersByTime(749);
    expect(retry).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(retry).toHaveBeenCalledTimes(1);
    expect(backoff.pending).toBe(false);
  });

  it('keeps one retry at most: scheduling again replaces the pending one', () => {
    const backoff = new Backoff({ initialMs: 1000, random: () => 0 });
    const first = jest.fn();
    const second = jest.fn();
    backoff.schedule(first);
    backoff.schedule(second);
    jest.advanceTimersByTime(60_000);
    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledTimes(1);
  });

  it('grows delays over a retry storm and starts over after a reset', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 800, random: () => 0 });
    const fired: number[] = [];
    const retry = (): void => {
      fired.push(Date.now());
      if (fired.length < 5) backoff.schedule(retry);
    };
    const start = Date.now();
    backoff.schedule(retry);
    jest.advanceTimersByTime(10_000);
    expect(fired.map((t) => t - start)).toEqual([50, 150, 350, 750, 1150]);
    backoff.reset();
    expect(backoff.schedule(jest.fn())).toBe(50);
  });

  it('cancel stops a pending retry', () => {
    const backoff = new Backoff();
    const retry = jest.fn();
    backoff.schedule(retry);
    backoff.cancel();
    jest.runAllTimers();
    expect(retry).not.toHaveBeenCalled();
  });
});

import { Heartbeats } from './heartbeats';

describe('Heartbeats', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('beats every connection of a period from one timer, and stops a connection when asked', () => {
    const heartbeats = new Heartbeats();
    const a = jest.fn();
    const b = jest.fn();
    const c = jest.fn();
    const stopA = heartbeats.every(1000, a);
    heartbeats.every(1000, b);
    heartbeats.every(250, c);
    expect(jest.getTimerCount()).toBe(2);
    jest.advanceTimersByTime(1000);
    expect([a.mock.calls.length, b.mock.calls.length, c.mock.calls.length]).toEqual([1, 1, 4]);
    stopA();
    stopA();
    jest.advanceTimersByTime(1000);
    expect([a.mock.calls.length, b.mock.calls.length]).toEqual([1, 2]);
    heartbeats.onModuleDestroy();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('drops a period’s timer with its last connection, and a stale stop never touches a newer group', () => {
    const heartbeats = new Heartbeats();
    const stopOld = heartbeats.every(500, jest.fn());
    stopOld();
    expect(jest.getTimerCount()).toBe(0);
    const beat = jest.fn();
    heartbeats.every(500, beat);
    stopOld();
    jest.advanceTimersByTime(500);
    expect(beat).toHaveBeenCalledTimes(1);
  });
});

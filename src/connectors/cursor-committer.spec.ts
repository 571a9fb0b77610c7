import { Logger } from '@nestjs/common';
import type { ConnectorDelta } from './connectors.repository';
import { CursorCommitter } from './cursor-committer';

describe('CursorCommitter', () => {
  const logger = new Logger('test');
  beforeAll(() => Logger.overrideLogger(false));

  function committer(answer: (d: ConnectorDelta) => Promise<boolean>): {
    c: CursorCommitter;
    commits: ConnectorDelta[];
    fenced: jest.Mock;
  } {
    const commits: ConnectorDelta[] = [];
    const fenced = jest.fn();
    const c = new CursorCommitter(
      'c',
      (_epoch, d) => {
        commits.push({ ...d });
        return answer(d);
      },
      () => 1,
      fenced,
      logger,
    );
    return { c, commits, fenced };
  }

  it('keeps one commit in flight and folds what comes meanwhile into the next', async () => {
    let release: (ok: boolean) => void = () => undefined;
    const { c, commits } = committer(() => new Promise<boolean>((resolve) => (release = resolve)));
    c.next(10, null).deliveries++;
    c.schedule(true);
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (const cursor of [20, 30]) {
      const d = c.next(cursor, null);
      d.deliveries++;
      d.eventsDelivered += 10;
      c.schedule(true);
    }
    expect(commits).toHaveLength(1);
    release(true);
    const closing = c.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    release(true);
    await closing;
    expect(commits.map((d) => [d.cursorId, d.deliveries, d.eventsDelivered])).toEqual([
      [10, 1, 0],
      [30, 2, 20],
    ]);
  });

  it('commits deliveries acknowledged during a commit as soon as it ends, a cursor past filtered-out events later', async () => {
    jest.useFakeTimers();
    try {
      let release: (ok: boolean) => void = () => undefined;
      const { c, commits } = committer(() => new Promise<boolean>((resolve) => (release = resolve)));
      c.next(10, null).deliveries++;
      c.schedule(true);
      await jest.advanceTimersByTimeAsync(0);
      expect(commits).toHaveLength(1);
      c.next(20, null).deliveries++;
      c.schedule(true);
      release(true);
      // No time passes: the delivery acknowledged meanwhile is committed right after.
      await jest.advanceTimersByTimeAsync(0);
      expect(commits.map((d) => d.cursorId)).toEqual([10, 20]);
      release(true);
      await jest.advanceTimersByTimeAsync(0);
      // A cursor moved only past filtered-out events waits for the idle interval.
      c.next(30, null);
      c.schedule(false);
      await jest.advanceTimersByTimeAsync(500);
      expect(commits).toHaveLength(2);
      // ... unless a delivery's outcome comes meanwhile.
      c.next(40, null).deliveries++;
      c.schedule(true);
      await jest.advanceTimersByTimeAsync(0);
      expect(commits.map((d) => d.cursorId)).toEqual([10, 20, 40]);
      release(true);
      await jest.advanceTimersByTimeAsync(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps the figures of a failed commit for the next, and reports a refused one', async () => {
    const answers = [Promise.reject(new Error('database away')), Promise.resolve(true), Promise.resolve(false)];
    answers[0].catch(() => undefined);
    const { c, commits, fenced } = committer(() => answers.shift() as Promise<boolean>);
    const d = c.next(5, 1000);
    d.failures++;
    d.lastError = 'HTTP 500';
    await c.close();
    expect(commits).toHaveLength(1);
    await c.close();
    expect(commits[1]).toMatchObject({ cursorId: 5, failures: 1, lastError: 'HTTP 500', failingSince: 1000 });
    c.next(6, null);
    await c.close();
    expect(fenced).toHaveBeenCalledTimes(1);
  });
});

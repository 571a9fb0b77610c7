import { GroupCommitQueue } from './group-commit-queue';

/** A queue of numbers (each counting its value in units) whose commits the test can hold or fail. */
function setup(maxBatch = 10, maxPending = 20, minIntervalMs?: number) {
  const attempts: { batch: number[]; attempt: number }[] = [];
  const committed: number[][] = [];
  let failures = 0;
  let gate: Promise<void> | undefined;
  let open = (): void => undefined;
  let sealed = 0;
  const queue = new GroupCommitQueue<number, number[]>({
    maxBatch,
    maxPending,
    seal: (items) => {
      sealed++;
      return [...items];
    },
    commit: async (batch, attempt) => {
      attempts.push({ batch, attempt });
      if (gate) await gate;
      if (failures > 0) {
        failures--;
        throw new Error('database unreachable');
      }
      committed.push(batch);
    },
    failed: () => undefined,
    minIntervalMs,
  });
  const add = (...items: number[]): void => {
    for (const n of items) queue.add(n, n);
    queue.start();
  };
  return {
    queue,
    add,
    attempts,
    committed,
    sealed: () => sealed,
    fail: (n: number) => (failures = n),
    hold: (): void => {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release: () => {
      gate = undefined;
      open();
    },
  };
}

describe('GroupCommitQueue', () => {
  it('writes what was added before start as one batch, and what came during a write as the next', async () => {
    const s = setup();
    s.hold();
    s.add(1, 2);
    s.add(3);
    s.add(4);
    s.release();
    await s.queue.drain();
    expect(s.committed).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('takes items while fewer units than the batch limit are taken, whole items each', async () => {
    const s = setup(5, 100);
    s.hold();
    s.add(1);
    s.add(3, 3, 1, 4, 2);
    s.release();
    await s.queue.drain();
    expect(s.committed).toEqual([[1], [3, 3], [1, 4], [2]]);
  });

  it('retries a failed batch as it was, sealed once, after a backoff, then goes on in order', async () => {
    jest.useFakeTimers();
    try {
      const s = setup();
      s.fail(3);
      s.add(1);
      s.add(2);
      // Three delays of at most 100, 200 and 400 ms (jittered).
      await jest.advanceTimersByTimeAsync(700);
      await s.queue.drain();
      expect(s.attempts).toEqual([
        { batch: [1], attempt: 0 },
        { batch: [1], attempt: 1 },
        { batch: [1], attempt: 2 },
        { batch: [1], attempt: 3 },
        { batch: [2], attempt: 0 },
      ]);
      expect(s.sealed()).toBe(2);
      expect(s.committed).toEqual([[1], [2]]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('has no room at the pending limit, the batch being written counted, and wakes producers once below it', async () => {
    const s = setup(10, 20);
    s.hold();
    s.add(10);
    s.add(10);
    expect(s.queue.pending).toBe(20);
    expect(s.queue.oldest).toBe(10);
    expect(s.queue.hasRoom()).toBe(false);
    let woken = false;
    const room = s.queue.room().then(() => (woken = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(false);
    s.release();
    await room;
    expect(s.queue.pending).toBeLessThan(20);
    await s.queue.drain();
    expect(s.queue.pending).toBe(0);
    expect(s.queue.oldest).toBeUndefined();
  });

  describe('with minIntervalMs', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }));
    afterEach(() => jest.useRealTimers());

    it('starts the next batch that long after the previous one started, with everything that came meanwhile', async () => {
      const s = setup(10, 20, 20);
      s.add(1);
      await Promise.resolve();
      expect(s.committed).toEqual([[1]]);
      s.add(2);
      s.add(3);
      await jest.advanceTimersByTimeAsync(19);
      expect(s.committed).toEqual([[1]]);
      s.add(4);
      await jest.advanceTimersByTimeAsync(1);
      await s.queue.drain();
      expect(s.committed).toEqual([[1], [2, 3, 4]]);
    });

    it('does not wait while a full batch is queued', async () => {
      const s = setup(5, 40, 20);
      s.add(1);
      await Promise.resolve();
      s.add(5, 1);
      await Promise.resolve();
      await Promise.resolve();
      // 6 units queued, the batch limit 5: the next batch goes at once, without the timer.
      expect(s.committed).toEqual([[1], [5]]);
    });
  });
});

import type { DeviceEvent } from './device-event';
import { OrderedMerge } from './ordered-merge';

const ev = (id: number): DeviceEvent => ({
  id: String(id),
  event: 'data',
  device_type: 't',
  device_id: 'd',
  data: {},
  timestamp: '1970-01-01T00:00:00.000Z',
  received_at: '1970-01-01T00:00:00.000Z',
});
const range = (from: number, to: number): DeviceEvent[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ev(from + i));

describe('OrderedMerge', () => {
  let emitted: string[];
  let log: DeviceEvent[];
  let reads: [number, number][];
  let merge: OrderedMerge;

  beforeEach(() => {
    jest.useFakeTimers();
    emitted = [];
    log = range(1, 100);
    reads = [];
    merge = new OrderedMerge(
      0,
      (batch) => emitted.push(...batch.map((e) => e.id)),
      (after, through) => {
        reads.push([after, through]);
        return Promise.resolve(log.filter((e) => Number(e.id) > after && Number(e.id) <= through));
      },
      (err) => {
        throw err;
      },
    );
  });
  afterEach(() => {
    merge.stop();
    jest.useRealTimers();
  });

  it('emits batches that continue the sequence at once', () => {
    merge.offer(range(1, 3));
    merge.offer(range(4, 5));
    expect(emitted).toEqual(['1', '2', '3', '4', '5']);
    expect(reads).toEqual([]);
  });

  it('holds a batch that is ahead until the one before it arrives', () => {
    merge.offer(range(4, 6));
    expect(emitted).toEqual([]);
    merge.offer(range(1, 3));
    expect(emitted).toEqual(['1', '2', '3', '4', '5', '6']);
    jest.advanceTimersByTime(1000);
    expect(reads).toEqual([]);
  });

  it('drops what it has already emitted (its own batch echoed back by Redis)', () => {
    merge.offer(range(1, 3));
    merge.offer(range(1, 3));
    merge.offer(range(2, 4));
    expect(emitted).toEqual(['1', '2', '3', '4']);
  });

  it('reads a gap from the log when the missing batch never comes', async () => {
    merge.offer(range(1, 2));
    merge.offer(range(6, 7));
    expect(emitted).toEqual(['1', '2']);
    await jest.advanceTimersByTimeAsync(60);
    expect(reads).toEqual([[2, 5]]);
    expect(emitted).toEqual(['1', '2', '3', '4', '5', '6', '7']);
  });

  it('catches up from the log when told how far the log has grown (Redis down)', async () => {
    merge.catchUp(10);
    await jest.advanceTimersByTimeAsync(0);
    expect(emitted).toEqual(range(1, 10).map((e) => e.id));
    merge.offer(range(8, 11));
    expect(emitted.slice(-1)).toEqual(['11']);
  });
});

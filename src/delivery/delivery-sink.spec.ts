import { Subject } from 'rxjs';
import type { DeviceEvent } from '../bus/device-event';
import type { EncodedEvent } from '../bus/encoded-event';
import type { DeliveryMeter, DeliverySink, EndReason } from './delivery-sink';
import { Delivery } from './delivery-sink';
import type { DeliveryItem } from './delivery-stream.service';

const event = (id: number): DeviceEvent => ({
  id: String(id),
  event: 'data',
  device_type: 'sensor',
  device_id: 's-1',
  data: { n: id },
  timestamp: '2025-01-15T12:00:00.000Z',
  received_at: '2025-01-15T12:00:00.000Z',
});

/** A sink whose unsent bytes grow by 100 per event and drain only when told. */
class FakeSink implements DeliverySink {
  readonly transport = 'ws' as const;
  buffered = 0;
  readonly sent: string[] = [];
  readonly ends: [EndReason, string | undefined][] = [];
  bufferedBytes(): number {
    return this.buffered;
  }
  event({ event: e }: EncodedEvent): void {
    this.sent.push(e.id);
    this.buffered += 100;
  }
  reset(requested: string, lastEventId: string): void {
    this.sent.push(`reset ${requested}->${lastEventId}`);
  }
  end(reason: EndReason, lastEventId: string | undefined): void {
    this.ends.push([reason, lastEventId]);
  }
}

const microtasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Delivery', () => {
  let items: Subject<DeliveryItem>;
  let sink: FakeSink;
  let meter: { sent: jest.Mock; slowConsumer: jest.Mock } & DeliveryMeter;
  let ended: Delivery[];
  const start = (limit = 250, resumeFrom?: string): Delivery =>
    new Delivery(items, sink, limit, meter, (d) => ended.push(d), resumeFrom);

  beforeEach(() => {
    items = new Subject<DeliveryItem>();
    sink = new FakeSink();
    meter = { sent: jest.fn(), slowConsumer: jest.fn() };
    ended = [];
  });

  it('sends a burst whole even past the limit: only backlog left from earlier bursts counts', async () => {
    const delivery = start(250);
    for (let id = 1; id <= 5; id++) items.next({ kind: 'event', event: event(id) });
    expect(sink.sent).toEqual(['1', '2', '3', '4', '5']);
    await microtasks();
    sink.buffered = 0; // the network took it
    items.next({ kind: 'event', event: event(6) });
    expect(sink.sent).toHaveLength(6);
    expect(delivery.isEnded).toBe(false);
    expect(meter.sent).toHaveBeenCalledTimes(6);
  });

  it('ends with slow_consumer and the last id sent when a new burst finds the backlog over the limit', async () => {
    const delivery = start(250);
    for (let id = 1; id <= 3; id++) items.next({ kind: 'event', event: event(id) });
    await microtasks();
    items.next({ kind: 'event', event: event(4) });
    items.next({ kind: 'event', event: event(5) });
    expect(sink.sent).toEqual(['1', '2', '3']);
    expect(sink.ends).toEqual([['slow_consumer', '3']]);
    expect(meter.slowConsumer).toHaveBeenCalledWith('ws');
    expect(delivery.isEnded).toBe(true);
    expect(ended).toEqual([delivery]);
    expect(items.observed).toBe(false);
  });

  it('moves its position to a reset and ends once, whatever comes after', () => {
    const delivery = start(1000, '2');
    expect(delivery.lastEventId).toBe('2');
    items.next({ kind: 'reset', requested: '2', retainedAfter: '40' });
    expect(delivery.lastEventId).toBe('40');
    items.next({ kind: 'expired' });
    delivery.finish('going_away');
    items.complete();
    expect(sink.sent).toEqual(['reset 2->40']);
    expect(sink.ends).toEqual([['token_expired', '40']]);
    expect(ended).toHaveLength(1);
  });

  it('ends with going_away when the bus completes and internal_error when it fails', () => {
    start();
    items.complete();
    const failing = new Subject<DeliveryItem>();
    const other = new FakeSink();
    new Delivery(failing, other, 1000, meter);
    failing.error(new Error('log unreadable'));
    expect(sink.ends).toEqual([['going_away', undefined]]);
    expect(other.ends).toEqual([['internal_error', undefined]]);
  });

  it('stops without last words when the client leaves', () => {
    const delivery = start();
    delivery.close();
    items.next({ kind: 'event', event: event(1) });
    expect(sink.sent).toEqual([]);
    expect(sink.ends).toEqual([]);
    expect(items.observed).toBe(false);
  });
});

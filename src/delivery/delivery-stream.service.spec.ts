import { Subject } from 'rxjs';
import type { AppConfig } from '../config/app-config';
import type { DeviceEvent, StreamItem } from '../bus/device-event';
import type { EventBusService } from '../bus/event-bus.service';
import type { DeliveryItem } from './delivery-stream.service';
import { DeliveryStreamService } from './delivery-stream.service';
import { MetricsService } from '../observability/metrics.service';

const event = (id: string): DeviceEvent => ({
  id,
  event: 'data',
  device_type: 'sensor',
  device_id: 's-1',
  data: {},
  timestamp: '2025-01-15T12:00:00.000Z',
  received_at: '2025-01-15T12:00:00.000Z',
});

describe('DeliveryStreamService.items', () => {
  let bus: Subject<StreamItem>;
  let service: DeliveryStreamService;
  let received: DeliveryItem[];
  let completed: boolean;

  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2026-01-01T00:00:00Z') });
    bus = new Subject<StreamItem>();
    const fakeBus = { stream: () => bus.asObservable() } as unknown as EventBusService;
    service = new DeliveryStreamService(
      fakeBus,
      { mqtt: { topicPrefix: 'things' } } as AppConfig,
      new MetricsService(),
    );
    received = [];
    completed = false;
  });
  afterEach(() => jest.useRealTimers());

  const open = (expiresInMs: number | undefined) =>
    service
      .items({
        filter: {},
        group: 'iot__all',
        expiresAtMs: expiresInMs === undefined ? undefined : Date.now() + expiresInMs,
      })
      .subscribe({ next: (item) => received.push(item), complete: () => (completed = true) });

  it('passes events through, then ends with expired when the token runs out', () => {
    open(2000);
    bus.next({ kind: 'event', event: event('1') });
    jest.advanceTimersByTime(1999);
    expect(received).toEqual([{ kind: 'event', event: event('1') }]);
    jest.advanceTimersByTime(1);
    expect(received).toEqual([{ kind: 'event', event: event('1') }, { kind: 'expired' }]);
    expect(completed).toBe(true);
    // The bus subscription is gone: later events reach nobody.
    expect(bus.observed).toBe(false);
  });

  it('completes without expired when the bus completes (shutdown) before expiry', () => {
    open(60_000);
    bus.next({ kind: 'event', event: event('1') });
    bus.complete();
    expect(received).toEqual([{ kind: 'event', event: event('1') }]);
    expect(completed).toBe(true);
    jest.advanceTimersByTime(120_000);
    expect(received).toHaveLength(1);
  });

  it('clears the expiry timer when the client unsubscribes', () => {
    const subscription = open(5000);
    subscription.unsubscribe();
    expect(jest.getTimerCount()).toBe(0);
    expect(bus.observed).toBe(false);
  });

  it('waits out expiries beyond the longest setTimeout in steps', () => {
    const thirtyDays = 30 * 24 * 3600 * 1000;
    open(thirtyDays);
    jest.advanceTimersByTime(thirtyDays - 1);
    expect(received).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(received).toEqual([{ kind: 'expired' }]);
  });

  it('never expires a stream without an expiry (AUTH=off, no token)', () => {
    open(undefined);
    jest.advanceTimersByTime(365 * 24 * 3600 * 1000);
    bus.next({ kind: 'event', event: event('7') });
    expect(received).toEqual([{ kind: 'event', event: event('7') }]);
    expect(completed).toBe(false);
  });
});

import mqtt from 'mqtt';
import { firstValueFrom, lastValueFrom, take, takeWhile, timeout, toArray } from 'rxjs';
import { DataSource } from 'typeorm';
import type { DeviceEvent, NewEvent, StreamItem } from '../src/bus/device-event';
import { EventBusService } from '../src/bus/event-bus.service';
import { EventLogRepository } from '../src/bus/event-log.repository';
import { EventRecord } from '../src/bus/event-record.entity';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { waitFor } from './support/wait';

const event = (deviceId: string, n: number): NewEvent => {
  const now = new Date().toISOString();
  return { event: 'data', device_type: 'meter', device_id: deviceId, data: { n }, timestamp: now, received_at: now };
};

/**
 * The service-side stream every transport uses (issue #2): replay from a
 * position in the real log (SQLite, or PostgreSQL in the integration run),
 * then live, with no gap and no duplicate while publishing goes on.
 */
describe('event log streams', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await bootApp();
  });
  afterAll(() => app.stop());

  it('replays from a position over several pages, then continues live, with no gap and no duplicate', async () => {
    const bus = app.app.get(EventBusService);
    // More than one replay page (1,000 rows) before the position and after it.
    const logged = await bus.publish(Array.from({ length: 2500 }, (_, n) => event(n % 2 ? 'odd' : 'even', n)));
    const from = logged[999].id;
    const last = Number(logged[2499].id) + 1500;
    const streamed = lastValueFrom(
      bus.stream({ deviceType: 'meter' }, from).pipe(
        takeWhile((item: StreamItem) => item.kind === 'event' && Number(item.event.id) < last, true),
        timeout({ each: 10_000 }),
        toArray(),
      ),
    );
    // Publishing goes on in many small batches while the stream replays.
    for (let n = 2500; n < 4000; n += 50) {
      await bus.publish(Array.from({ length: 50 }, (_, i) => event('live', n + i)));
    }
    const items = await streamed;
    expect(items.every((item) => item.kind === 'event')).toBe(true);
    const ids = items.map((item) => (item.kind === 'event' ? Number(item.event.id) : NaN));
    const expected = Array.from({ length: last - Number(from) }, (_, i) => Number(from) + 1 + i);
    expect(ids).toEqual(expected);
    expect(items.map((item) => (item.kind === 'event' ? item.event.data.n : undefined))).toEqual(
      expected.map((id) => id - Number(logged[0].id)),
    );
  });

  it('filters replayed and live events alike', async () => {
    const bus = app.app.get(EventBusService);
    const [first] = await bus.publish([event('f-1', 1), event('f-2', 2), event('f-1', 3)]);
    const streamed = firstValueFrom(
      bus.stream({ deviceId: 'f-1' }, String(Number(first.id) - 1)).pipe(take(3), timeout({ each: 10_000 }), toArray()),
    );
    await bus.publish([event('f-2', 4), event('f-1', 5)]);
    expect((await streamed).map((item) => (item.kind === 'event' ? item.event.data.n : item.kind))).toEqual([1, 3, 5]);
  });

  it('appends idempotently: a logged message is left out, a retried batch that committed is not written again', async () => {
    const log = app.app.get(EventLogRepository);
    const opened = (deviceId: string, messageId: string): NewEvent => ({
      ...event(deviceId, 0),
      message_id: messageId,
      opensMessage: true,
    });
    const batch = [event('idem', 1), opened('idem', 'x-1'), opened('idem', 'x-1'), event('idem', 2)];
    const key = `e2e-${Date.now()}`;
    const first = await log.append(batch, key);
    const start = Number(first[0]?.id);
    expect(first.map((e) => e?.id)).toEqual([String(start), String(start + 1), undefined, String(start + 2)]);
    // The same batch again, as the bus retries it after a lost answer: the same positions, nothing new.
    const retried = await log.append(batch, key, true);
    expect(retried.map((e) => e?.id)).toEqual(first.map((e) => e?.id));
    expect(await log.lastId()).toBe(start + 2);
    // Under a new key the message is known already; the plain events are new ones.
    const again = await log.append(batch, `${key}-2`);
    expect(again.map((e) => e?.id)).toEqual([String(start + 3), undefined, undefined, String(start + 4)]);
    const stored = await app.app.get(DataSource).getRepository(EventRecord).countBy({ deviceId: 'idem' });
    expect(stored).toBe(5);
  });
});

/**
 * EVENT_RETENTION (issue #2, "Event bus and event log"): the log keeps events
 * for resume that long, prunes older ones, and a client resuming from a pruned
 * position is told so (a reset) before it gets what is kept: the gap is never silent.
 */
describe('EVENT_RETENTION', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;

  beforeAll(async () => {
    app = await bootApp({ EVENT_RETENTION: '1s' });
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `retention-${process.pid}` });
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
  });

  const bus = (): EventBusService => app.app.get(EventBusService);
  const logged = (ids: string[]): Promise<number> =>
    app.app
      .get(DataSource)
      .getRepository(EventRecord)
      .countBy(ids.map((id) => ({ id: Number(id) })));
  const publish = async (deviceId: string, n: number): Promise<DeviceEvent[]> => {
    const events = firstValueFrom(bus().live({ deviceId }).pipe(take(n), toArray()));
    for (let i = 0; i < n; i++) {
      await device.publishAsync(
        `${app.config.mqtt.topicPrefix}/weatherstation/${deviceId}/data`,
        JSON.stringify({ temperature: i }),
        { qos: 1 },
      );
    }
    return events;
  };

  it('prunes events older than the retention, and a resume from before them starts with a reset', async () => {
    const old = await publish('ws-old', 3);
    const ids = old.map((e) => e.id);
    expect(await logged(ids)).toBe(3);
    const before = String(Number(ids[0]) - 1);

    await waitFor(async () => ((await logged(ids)) === 0 ? true : undefined), 'the old events pruned', 10_000);
    const page = await bus().readPage({}, before, 100);
    expect(page.reset).toEqual({ requested: before, retainedAfter: expect.any(String) });
    expect(Number(page.reset?.retainedAfter)).toBeGreaterThanOrEqual(Number(ids[2]));
    expect(page.events).toEqual([]);

    // A fresh event is kept, and a stream from the pruned position says reset, then carries on with it.
    const resumed = firstValueFrom(bus().stream({ deviceId: 'ws-new' }, before).pipe(take(2), toArray()));
    const [fresh] = await publish('ws-new', 1);
    const items = await resumed;
    expect(items[0]).toMatchObject({ kind: 'reset', requested: before });
    expect(items[1]).toEqual({ kind: 'event', event: fresh });
  });
});

import { firstValueFrom, take, toArray } from 'rxjs';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { BatchWriter } from '../database/batch-writer';
import { MIGRATIONS } from '../database/migrations';
import type { NewEvent, StreamItem } from './device-event';
import { committedFeed } from './bus.module';
import { EventBusService } from './event-bus.service';
import { EventPrunerService } from './event-pruner.service';
import { EventReaderService } from './event-reader.service';
import { EventLogMeta, EventRecord } from './event-record.entity';
import { EventWriterService } from './event-writer.service';
import { SqliteEventLogRepository } from './sqlite-event-log.repository';
import { MetricsService } from '../observability/metrics.service';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { RedisRepository } from '../cluster/redis.repository';

const config = {
  eventRetentionMs: 3_600_000,
  database: { type: 'sqlite', path: ':memory:' },
  mqtt: { topicPrefix: 'things' },
  eventLog: { batchLimit: 5000, queueLimit: 50_000, replayBuffer: 10_000 },
} as AppConfig;
const AT = new Date(Date.UTC(2025, 0, 15, 12)).toISOString();
const newEvent = (n: number, deviceType = 'ws'): NewEvent => ({
  event: 'data',
  device_type: deviceType,
  device_id: `d${n % 3}`,
  data: { n },
  timestamp: AT,
  received_at: AT,
});
const ids = (items: StreamItem[]): string[] =>
  items.map((i) => (i.kind === 'event' ? i.event.id : `reset>${i.retainedAfter}`));

/**
 * The real SQLite log in memory (migrations and all), with appends that the
 * test can hold (`gate`) or fail (`failNext`) on their way in.
 */
class Log {
  readonly repository: SqliteEventLogRepository;
  appendCalls: number[] = [];
  failNext = 0;
  gate: Promise<void> | undefined;

  constructor(readonly db: DataSource) {
    this.repository = new SqliteEventLogRepository(db, new BatchWriter(db, config));
    const append = this.repository.append.bind(this.repository);
    jest.spyOn(this.repository, 'append').mockImplementation(async (events, key, retry) => {
      this.appendCalls.push(events.length);
      if (this.gate) await this.gate;
      if (this.failNext > 0) {
        this.failNext--;
        throw new Error('database unreachable');
      }
      return append(events, key, retry);
    });
  }

  static async open(): Promise<Log> {
    const db = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [EventRecord, EventLogMeta],
      migrations: MIGRATIONS,
    });
    await db.initialize();
    await db.runMigrations();
    return new Log(db);
  }

  async ids(): Promise<string[]> {
    const rows = await this.db.query<{ id: number }[]>(`SELECT id FROM events ORDER BY id`);
    return rows.map((r) => String(r.id));
  }

  /** Retention as the pruner applies it, to the events up to `id`. */
  async pruneThrough(id: number): Promise<void> {
    await this.db.query(`UPDATE events SET received_at = 0 WHERE id <= ?`, [id]);
    await this.repository.pruneBefore(1);
  }
}

const opened: DataSource[] = [];
const buses: EventBusService[] = [];
afterEach(async () => {
  // Its pruner's timer first: it would query a closed database a minute later, in some other test's time.
  for (const bus of buses.splice(0)) bus.onModuleDestroy();
  for (const db of opened.splice(0)) await db.destroy();
});

/** The bus as BusModule puts it together, on the in-process feed. */
async function makeBus(given?: Log): Promise<{ bus: EventBusService; log: Log }> {
  const log = given ?? (await Log.open());
  if (given === undefined) opened.push(log.db);
  const redis = new RedisRepository(config);
  const feed = committedFeed(log.repository, redis);
  const bus = new EventBusService(
    new EventWriterService(log.repository, feed, config, new MetricsService()),
    feed,
    new EventReaderService(log.repository, feed, config),
    new EventPrunerService(log.repository, config, new ClusterLeaseService(redis)),
    log.repository,
  );
  await bus.onModuleInit();
  buses.push(bus);
  return { bus, log };
}

describe('EventBusService', () => {
  it('delivers events in log order only once they are in the log', async () => {
    const { bus, log } = await makeBus();
    let release!: () => void;
    log.gate = new Promise((resolve) => (release = resolve));
    const seen: string[] = [];
    bus.live().subscribe((e) => seen.push(e.id));
    const published = bus.publish([newEvent(1), newEvent(2)]);
    await Promise.resolve();
    expect(seen).toEqual([]);
    release();
    expect((await published).map((e) => e.id)).toEqual(['1', '2']);
    expect(seen).toEqual(['1', '2']);
    expect(await log.ids()).toEqual(['1', '2']);
  });

  it('carries whatever arrives during a write in the next single transaction', async () => {
    const { bus, log } = await makeBus();
    let release!: () => void;
    log.gate = new Promise((resolve) => (release = resolve));
    const first = bus.publishOne(newEvent(0));
    const rest = Array.from({ length: 50 }, (_, i) => bus.publishOne(newEvent(i + 1)));
    release();
    log.gate = undefined;
    await Promise.all([first, ...rest]);
    expect(log.appendCalls).toEqual([1, 50]);
  });

  it('names its backlog, the batch being written included, and none once it is written', async () => {
    const { bus, log } = await makeBus();
    expect(bus.backlog()).toEqual({ events: 0 });
    let release!: () => void;
    log.gate = new Promise((resolve) => (release = resolve));
    const first = bus.publishOne(newEvent(1));
    const second = bus.publish([newEvent(2), newEvent(3)]);
    await Promise.resolve();
    expect(log.appendCalls).toEqual([1]);
    expect(bus.backlog()).toEqual({ events: 3, oldest: newEvent(1) });
    release();
    log.gate = undefined;
    await Promise.all([first, second]);
    expect(bus.backlog()).toEqual({ events: 0 });
  });

  it('continues numbering after the last logged id on restart', async () => {
    const { bus, log } = await makeBus();
    await bus.publish([newEvent(1), newEvent(2), newEvent(3)]);
    const { bus: restarted } = await makeBus(new Log(log.db));
    expect((await restarted.publishOne(newEvent(4))).id).toBe('4');
  });

  it('holds events in order while the log cannot be written, then delivers them all', async () => {
    const { bus, log } = await makeBus();
    log.failNext = 2;
    const seen: string[] = [];
    bus.live().subscribe((e) => seen.push(e.id));
    await Promise.all([bus.publishOne(newEvent(1)), bus.publishOne(newEvent(2))]);
    expect(seen).toEqual(['1', '2']);
    expect(bus.stats.writeErrors).toBe(2);
    expect(bus.degraded).toBe(false);
  });

  it('filters live events by type, id and event name', async () => {
    const { bus } = await makeBus();
    const received = firstValueFrom(
      bus.live({ deviceType: 'cam', deviceId: 'd1', eventTypes: ['data'] }).pipe(take(1)),
    );
    await bus.publish([newEvent(1, 'ws'), newEvent(0, 'cam'), newEvent(1, 'cam')]);
    expect((await received).id).toBe('3');
  });

  it('replays after a position and continues live with no gap and no duplicate while publishing goes on', async () => {
    const { bus } = await makeBus();
    for (let i = 0; i < 25; i++) await bus.publish(Array.from({ length: 100 }, (_, j) => newEvent(i * 100 + j)));
    const collected = firstValueFrom(bus.stream({}, '1000').pipe(take(2500), toArray()));
    // Publishing continues while the replay pages through the log.
    const more = Array.from({ length: 1000 }, (_, i) => bus.publishOne(newEvent(i)));
    await Promise.all(more);
    const items = await collected;
    expect(ids(items)).toEqual(Array.from({ length: 2500 }, (_, i) => String(1001 + i)));
  });

  it('applies the filter and the allow test during replay', async () => {
    const { bus } = await makeBus();
    await bus.publish([newEvent(1, 'ws'), newEvent(2, 'cam'), newEvent(3, 'ws'), newEvent(4, 'ws')]);
    const items = firstValueFrom(
      bus.stream({ deviceType: 'ws', allow: (e) => e.id !== '3' }, '0').pipe(take(2), toArray()),
    );
    expect(ids(await items)).toEqual(['1', '4']);
  });

  it('replays only the device asked for, as the log narrows its reads', async () => {
    const { bus } = await makeBus();
    await bus.publish(Array.from({ length: 9 }, (_, i) => newEvent(i)));
    const items = firstValueFrom(bus.stream({ deviceType: 'ws', deviceId: 'd1' }, '0').pipe(take(3), toArray()));
    expect((await items).map((i) => (i.kind === 'event' ? i.event.device_id : i.kind))).toEqual(['d1', 'd1', 'd1']);
    expect(ids(await items)).toEqual(['2', '5', '8']);
  });

  it('tells the client with a reset when its position was pruned, then carries on from what is kept', async () => {
    const { bus, log } = await makeBus();
    await bus.publish(Array.from({ length: 10 }, (_, i) => newEvent(i)));
    await log.pruneThrough(6);
    const items = await firstValueFrom(bus.stream({}, '2').pipe(take(5), toArray()));
    expect(items[0]).toEqual({ kind: 'reset', requested: '2', retainedAfter: '6' });
    expect(ids(items.slice(1))).toEqual(['7', '8', '9', '10']);
  });

  it('resets a position from the future (a log that was wiped) to live', async () => {
    const { bus } = await makeBus();
    await bus.publish([newEvent(1)]);
    const items = firstValueFrom(bus.stream({}, '99').pipe(take(2), toArray()));
    await new Promise((resolve) => setImmediate(resolve));
    await bus.publishOne(newEvent(2));
    expect(await items).toEqual([
      { kind: 'reset', requested: '99', retainedAfter: '1' },
      expect.objectContaining({ kind: 'event' }),
    ]);
  });

  it('drains pending writes before shutdown completes the stream', async () => {
    const { bus, log } = await makeBus();
    let completed = false;
    bus.live().subscribe({ complete: () => (completed = true) });
    const pending = bus.publish([newEvent(1), newEvent(2)]);
    await bus.beforeApplicationShutdown();
    await pending;
    expect(await log.ids()).toEqual(['1', '2']);
    expect(completed).toBe(true);
  });
});

describe('EventBusService.readPage (polling and paced catch-up, issue #3)', () => {
  it('answers no events and the newest position when no position is given', async () => {
    const { bus } = await makeBus();
    await bus.publish([newEvent(1), newEvent(2)]);
    expect(await bus.readPage({}, undefined, 10)).toEqual({ events: [], cursor: '2', more: false });
  });

  it('pages through the log oldest first, continuing from each cursor', async () => {
    const { bus } = await makeBus();
    await bus.publish(Array.from({ length: 5 }, (_, i) => newEvent(i)));
    const first = await bus.readPage({}, '0', 2);
    expect(first).toMatchObject({ cursor: '2', more: true });
    expect(first.events.map((e) => e.id)).toEqual(['1', '2']);
    const second = await bus.readPage({}, first.cursor, 2);
    expect(second.events.map((e) => e.id)).toEqual(['3', '4']);
    const last = await bus.readPage({}, second.cursor, 2);
    expect(last).toMatchObject({ cursor: '5', more: false });
    expect(last.events.map((e) => e.id)).toEqual(['5']);
  });

  it('moves the cursor past events the filter skips, to the newest delivered position', async () => {
    const { bus } = await makeBus();
    await bus.publish([newEvent(1, 'ws'), newEvent(2, 'cam'), newEvent(3, 'cam')]);
    const page = await bus.readPage({ deviceType: 'ws', allow: (e) => e.id !== '9' }, '0', 10);
    expect(page.events.map((e) => e.id)).toEqual(['1']);
    expect(page).toMatchObject({ cursor: '3', more: false });
  });

  it('skips events the allow test refuses and still fills the page', async () => {
    const { bus } = await makeBus();
    await bus.publish(Array.from({ length: 10 }, (_, i) => newEvent(i)));
    const page = await bus.readPage({ allow: (e) => Number(e.id) % 2 === 0 }, '0', 3);
    expect(page.events.map((e) => e.id)).toEqual(['2', '4', '6']);
    expect(page).toMatchObject({ cursor: '6', more: true });
  });

  it('pages through one device only', async () => {
    const { bus } = await makeBus();
    await bus.publish(Array.from({ length: 9 }, (_, i) => newEvent(i)));
    const page = await bus.readPage({ deviceType: 'ws', deviceId: 'd2' }, '0', 10);
    expect(page.events.map((e) => e.id)).toEqual(['3', '6', '9']);
    expect(page).toMatchObject({ cursor: '9', more: false });
  });

  it('says reset when the position was pruned, and starts after what is kept', async () => {
    const { bus, log } = await makeBus();
    await bus.publish(Array.from({ length: 10 }, (_, i) => newEvent(i)));
    await log.pruneThrough(6);
    const page = await bus.readPage({}, '2', 10);
    expect(page.reset).toEqual({ requested: '2', retainedAfter: '6' });
    expect(page.events.map((e) => e.id)).toEqual(['7', '8', '9', '10']);
    expect((await bus.readPage({}, '6', 10)).reset).toBeUndefined();
  });
});

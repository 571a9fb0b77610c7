import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { lastValueFrom, toArray } from 'rxjs';
import { DataSource } from 'typeorm';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { RedisRepository } from '../cluster/redis.repository';
import type { AppConfig } from '../config/app-config';
import { BatchWriter } from '../database/batch-writer';
import { MIGRATIONS } from '../database/migrations';
import { HealthService } from '../health/health.service';
import { Reject } from '../mqtt/reject.entity';
import { RejectsRepository } from '../mqtt/rejects.repository';
import { RejectsService } from '../mqtt/rejects.service';
import type { MqttTransport } from '../mqtt/mqtt-transport';
import { MetricsService } from '../observability/metrics.service';
import type { NewEvent } from './device-event';
import { committedFeed } from './bus.module';
import { EventBusService } from './event-bus.service';
import { EventPrunerService } from './event-pruner.service';
import { EventReaderService } from './event-reader.service';
import { EventWriterService } from './event-writer.service';
import { SqliteEventLogRepository } from './sqlite-event-log.repository';
import { EventLogMeta, EventRecord } from './event-record.entity';

const AT = new Date(Date.UTC(2025, 0, 15, 12)).toISOString();
const event = (deviceId: string, data: Record<string, unknown> = {}): NewEvent => ({
  event: 'data',
  device_type: 'meter',
  device_id: deviceId,
  data,
  timestamp: AT,
  received_at: AT,
});
const configFor = (path: string): AppConfig =>
  ({
    eventRetentionMs: 3_600_000,
    database: { type: 'sqlite', path },
    mqtt: { topicPrefix: 'things' },
    eventLog: { batchLimit: 5000, queueLimit: 50_000, replayBuffer: 10_000 },
  }) as AppConfig;

/**
 * Poison batches (issue #11, item 4), on a real SQLite log: an event the
 * database refuses whatever the retry is found by halving its batch and
 * becomes a reject; the rest of the batch is written in order; nothing waits.
 */
describe.each([
  ['in memory', false],
  ['in a file, through the writer thread', true],
])('EventBusService with events the log refuses, SQLite %s', (_, onFile) => {
  let dir: string | undefined;
  let config: AppConfig;
  let db: DataSource;
  let writer: BatchWriter;
  let bus: EventBusService;
  let rejects: RejectsService;

  beforeEach(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    dir = onFile ? mkdtempSync(join(tmpdir(), 'dhb-refused-')) : undefined;
    config = configFor(dir === undefined ? ':memory:' : join(dir, 'log.sqlite'));
    db = new DataSource({
      type: 'better-sqlite3',
      database: config.database.type === 'sqlite' ? config.database.path : '',
      entities: [EventRecord, EventLogMeta, Reject],
      migrations: MIGRATIONS,
    });
    await db.initialize();
    await db.runMigrations();
    // A rule of the database's own, as a CHECK or a column length is on PostgreSQL: SQLite answers SQLITE_CONSTRAINT_TRIGGER.
    await db.query(
      `CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN NEW.device_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison is not allowed here'); END`,
    );
    writer = new BatchWriter(db, config);
    await writer.onModuleInit();
    const redis = new RedisRepository(config);
    const metrics = new MetricsService();
    const log = new SqliteEventLogRepository(db, writer);
    const feed = committedFeed(log, redis);
    bus = new EventBusService(
      new EventWriterService(log, feed, config, metrics),
      feed,
      new EventReaderService(log, feed, config),
      new EventPrunerService(log, config, new ClusterLeaseService(redis)),
      log,
    );
    await bus.onModuleInit();
    rejects = new RejectsService(new RejectsRepository(db), metrics, bus);
    rejects.onModuleInit();
  });
  afterEach(async () => {
    await bus.beforeApplicationShutdown();
    await rejects.beforeApplicationShutdown();
    bus.onModuleDestroy();
    await writer.onApplicationShutdown();
    await db.destroy();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  it('writes the rest of the batch in order, keeps the refused event as a counted reject, and stays healthy', async () => {
    const delivered = lastValueFrom(bus.batches$.pipe(toArray()));
    const batch = ['a', 'b', 'c', 'poison', 'd', 'e', 'f'].map((id, n) => event(id, { n }));
    const written = await bus.publish(batch);
    expect(written.map((e) => [e.id, e.device_id])).toEqual([
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'c'],
      ['4', 'd'],
      ['5', 'e'],
      ['6', 'f'],
    ]);
    await bus.drain();
    const stored: { id: number; device_id: string }[] = await db.query(`SELECT id, device_id FROM events ORDER BY id`);
    expect(stored.map((r) => r.device_id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(rejects.counters().log_refused).toBe(1);
    const [reject] = await rejects.list(10);
    expect(reject).toMatchObject({ topic: 'things/meter/poison/data', reason: 'log_refused', received_at: AT });
    expect(reject.detail).toContain('poison is not allowed here');
    expect(JSON.parse(reject.payload)).toEqual(event('poison', { n: 3 }));
    expect(bus.stats).toMatchObject({ refused: 1, events: 6, writeErrors: 0 });
    const health = new HealthService(bus, { connected: true } as MqttTransport, new RedisRepository(config));
    expect((await health.report()).status).toBe('ok');
    await bus.beforeApplicationShutdown();
    const batches = await delivered;
    expect(batches.flat().map((e) => e.id)).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('refuses an event that has no JSON without holding the others', async () => {
    const written = await bus.publish([event('a'), event('b', { big: 10n }), event('c')]);
    expect(written.map((e) => e.device_id)).toEqual(['a', 'c']);
    const [reject] = await rejects.list(10);
    expect(reject).toMatchObject({ topic: 'things/meter/b/data', reason: 'log_refused' });
    expect(reject.detail).toContain('does not serialise to JSON');
  });

  it('answers a producer whose only event is refused', async () => {
    await expect(bus.publish([event('poison')])).resolves.toEqual([]);
    await expect(bus.publishOne(event('poison'))).rejects.toThrow('did not take the event');
    expect(rejects.counters().log_refused).toBe(2);
  });
});

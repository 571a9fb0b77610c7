import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { BatchWriter } from '../database/batch-writer';
import type { WriteStatement } from '../database/batch-writer';
import { MIGRATIONS } from '../database/migrations';
import type { NewEvent } from './device-event';
import { SqliteEventLogRepository } from './sqlite-event-log.repository';
import { EventLogMeta, EventRecord } from './event-record.entity';

const AT = new Date(Date.UTC(2025, 0, 15, 12)).toISOString();
/** A device message's events as DeviceIngestService makes them: the first opens the message. */
const message = (deviceId: string, messageId: string | undefined, samples = 1): NewEvent[] =>
  Array.from({ length: samples }, (_, i) => ({
    event: 'data',
    device_type: 'meter',
    device_id: deviceId,
    data: { n: i },
    timestamp: AT,
    received_at: AT,
    ...(messageId === undefined ? {} : { message_id: messageId, ...(i === 0 ? { opensMessage: true } : {}) }),
  }));
const ids = (appended: ({ id: string } | undefined)[]): (string | undefined)[] => appended.map((e) => e?.id);

/** A BatchWriter with this config runs its jobs on the DataSource (no writer thread). */
const onDataSource = { database: { type: 'sqlite', path: ':memory:' } } as AppConfig;

/** The log on a real SQLite database built by the migrations; the e2e suite runs it on PostgreSQL too. */
describe('EventLogRepository', () => {
  let db: DataSource;
  let writer: BatchWriter;
  let log: SqliteEventLogRepository;
  const rows = async (): Promise<{ id: number; device_id: string; body: string }[]> =>
    db.query(`SELECT id, device_id, body FROM events ORDER BY id`);

  beforeEach(async () => {
    db = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [EventRecord, EventLogMeta],
      migrations: MIGRATIONS,
    });
    await db.initialize();
    await db.runMigrations();
    writer = new BatchWriter(db, onDataSource);
    log = new SqliteEventLogRepository(db, writer);
  });
  afterEach(() => db.destroy());

  describe('message ids (issue #11)', () => {
    it('logs a redelivered message once, keeps message_id in the event and positions gap-free', async () => {
      expect(ids(await log.append(message('a', 'm-1'), 'k1'))).toEqual(['1']);
      const again = await log.append([...message('a', 'm-1'), ...message('a', undefined)], 'k2');
      expect(ids(again)).toEqual([undefined, '2']);
      const stored = await rows();
      expect(stored.map((r) => r.id)).toEqual([1, 2]);
      expect(JSON.parse(stored[0].body)).toEqual({
        id: '1',
        event: 'data',
        device_type: 'meter',
        device_id: 'a',
        data: { n: 0 },
        timestamp: AT,
        received_at: AT,
        message_id: 'm-1',
      });
      // Nothing else of the batch reaches the event clients see.
      expect(JSON.parse(stored[1].body)).not.toHaveProperty('message_id');
      expect(JSON.parse(stored[0].body)).not.toHaveProperty('opensMessage');
      expect(await log.lastId()).toBe(2);
    });

    it('leaves out a message repeated within one batch, all its samples with it', async () => {
      const batch = [...message('a', 'm-1', 3), ...message('a', 'm-1', 3), ...message('a', 'm-2', 1)];
      expect(ids(await log.append(batch, 'k1'))).toEqual(['1', '2', '3', undefined, undefined, undefined, '4']);
      expect(ids(await log.append(message('a', 'm-1', 3), 'k2'))).toEqual([undefined, undefined, undefined]);
      expect((await rows()).map((r) => r.id)).toEqual([1, 2, 3, 4]);
      expect(await log.lastId()).toBe(4);
    });

    it('tells devices apart: the same message_id from another device is another message', async () => {
      await log.append(message('a', 'm-1'), 'k1');
      expect(ids(await log.append(message('b', 'm-1'), 'k2'))).toEqual(['2']);
      expect((await rows()).map((r) => r.device_id)).toEqual(['a', 'b']);
    });

    it('logs a message again once retention has pruned its first delivery', async () => {
      await log.append(message('a', 'm-1'), 'k1');
      await log.pruneBefore(Date.parse(AT) + 1);
      expect(ids(await log.append(message('a', 'm-1'), 'k2'))).toEqual(['2']);
    });
  });

  describe('retried batches', () => {
    it('answers a retry of a batch that committed with its positions, and writes nothing again', async () => {
      const batch = [...message('a', undefined), ...message('a', 'm-1'), ...message('b', 'm-1')];
      await log.append(message('b', 'm-1'), 'k0');
      const first = await log.append(batch, 'k1');
      expect(ids(first)).toEqual(['2', '3', undefined]);
      expect(ids(await log.append(batch, 'k1', true))).toEqual(['2', '3', undefined]);
      expect((await rows()).map((r) => r.id)).toEqual([1, 2, 3]);
      expect(await log.lastId()).toBe(3);
    });

    it('writes a retried batch that never committed', async () => {
      expect(ids(await log.append(message('a', undefined, 2), 'k1', true))).toEqual(['1', '2']);
    });

    it('writes a batch once when the writer fails after its commit (the writer thread dying before its reply)', async () => {
      const run = writer.run.bind(writer);
      let dieAfterCommit = true;
      jest.spyOn(writer, 'run').mockImplementation(async (statements: WriteStatement[]) => {
        const changes = await run(statements);
        if (!dieAfterCommit) return changes;
        dieAfterCommit = false;
        throw new Error('the SQLite writer thread exited with code 1');
      });
      const batch = message('a', undefined, 3);
      await expect(log.append(batch, 'k1')).rejects.toThrow('exited');
      // What the bus does next: the same batch, the same key.
      expect(ids(await log.append(batch, 'k1', true))).toEqual(['1', '2', '3']);
      expect(ids(await log.append(message('a', undefined), 'k2'))).toEqual(['4']);
      expect((await rows()).map((r) => r.id)).toEqual([1, 2, 3, 4]);
    });

    it('forgets batch keys with the events retention prunes', async () => {
      await log.append(message('a', undefined), 'k1');
      await log.pruneBefore(Date.parse(AT) + 1);
      expect(await db.query(`SELECT batch_key FROM event_batches`)).toEqual([]);
    });
  });
});

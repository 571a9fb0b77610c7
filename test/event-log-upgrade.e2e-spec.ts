import mqtt from 'mqtt';
import { filter, firstValueFrom, map, takeWhile, timeout, toArray } from 'rxjs';
import type { DataSource } from 'typeorm';
import type { DeviceEvent, StreamItem } from '../src/bus/device-event';
import { EventBusService } from '../src/bus/event-bus.service';
import { MIGRATIONS } from '../src/database/migrations';
import { SqliteRowidKeys1700000014000 } from '../src/database/migrations/1700000014000-sqlite-rowid-keys';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage, openDatabase } from './support/app';

// Recent: a device whose last event is old would go offline at once, and log that too.
const T0 = Date.now();
const iso = (ms: number): string => new Date(ms).toISOString();
const BEFORE = MIGRATIONS.slice(0, MIGRATIONS.indexOf(SqliteRowidKeys1700000014000));

/** Three events of meter/old-1 as a bridge before the upgrade logged them, and their batch. */
async function writeOldLog(db: DataSource): Promise<DeviceEvent[]> {
  const events: DeviceEvent[] = [1, 2, 3].map((n) => ({
    id: String(n),
    event: 'data',
    device_type: 'meter',
    device_id: 'old-1',
    data: { n },
    timestamp: iso(T0 + n),
    received_at: iso(T0 + n),
    ...(n === 2 ? { message_id: 'm-2' } : {}),
  }));
  for (const e of events)
    await db.query(
      `INSERT INTO events (id, event, device_type, device_id, received_at, body, message_id) VALUES (${e.id}, 'data', 'meter', 'old-1', ${T0 + Number(e.id)}, '${JSON.stringify(e)}', ${e.message_id ? `'${e.message_id}'` : 'NULL'})`,
    );
  await db.query(`INSERT INTO event_batches (batch_key, first_id, last_id, skipped) VALUES ('old-batch', 1, 3, '')`);
  await db.query(`UPDATE event_sequence SET last_id = 3 WHERE name = 'events'`);
  return events;
}

/** Each table's and index's name and SQL, SQLite's own autoindexes included. */
async function sqliteSchema(db: DataSource): Promise<Map<string, string | null>> {
  const rows = await db.query<{ name: string; sql: string | null }[]>(
    `SELECT name, sql FROM sqlite_master WHERE tbl_name IN ('events', 'event_batches') ORDER BY name`,
  );
  return new Map(rows.map((r) => [r.name, r.sql]));
}

/**
 * The upgrade that makes `events.id` SQLite's rowid and `event_batches` a
 * WITHOUT ROWID table (issue #17): a log written before it keeps every
 * event, its positions, its message ids and its batches, and the log goes
 * on from where it was. On PostgreSQL the migration changes nothing, and the
 * same log survives it.
 */
describe('event log upgrade to rowid keys', () => {
  let app: TestApp | undefined;
  let device: mqtt.MqttClient | undefined;
  let storage: Storage | undefined;
  afterEach(async () => {
    await device?.endAsync();
    await app?.stop();
    await storage?.dispose();
    device = app = storage = undefined;
  });

  it('keeps the log written before it, and the log goes on after it', async () => {
    storage = await freshStorage();
    const old = openDatabase(storage, BEFORE);
    await old.initialize();
    await old.runMigrations();
    const sqlite = old.options.type === 'better-sqlite3';
    const written = await writeOldLog(old);
    if (sqlite) expect((await sqliteSchema(old)).has('sqlite_autoindex_events_1')).toBe(true);
    await old.destroy();

    app = await bootApp({}, storage);
    const bus = app.app.get(EventBusService);
    const stream = firstValueFrom(
      bus.stream({ deviceType: 'meter' }, '0').pipe(
        filter((item: StreamItem): item is StreamItem & { kind: 'event' } => item.kind === 'event'),
        map((item) => item.event),
        takeWhile((e) => e.data.n !== 4, true),
        timeout({ first: 10_000, each: 10_000 }),
        toArray(),
      ),
    );
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `log-upgrade-${process.pid}` });
    // The message id the old log holds: a redelivery, not logged again. Then a new one.
    await device.publishAsync(
      `${app.config.mqtt.topicPrefix}/meter/old-1/data`,
      JSON.stringify({ n: 2, message_id: 'm-2' }),
      { qos: 1 },
    );
    await device.publishAsync(
      `${app.config.mqtt.topicPrefix}/meter/old-1/data`,
      JSON.stringify({ n: 4, message_id: 'm-4' }),
      { qos: 1 },
    );
    const events = await stream;
    expect(events.slice(0, 3)).toEqual(written);
    // Positions go on from the old log's, and the redelivered m-2 is not in it twice.
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.message_id === 'm-2')).toHaveLength(1);
    expect(events[events.length - 1]).toMatchObject({ device_id: 'old-1', data: { n: 4 }, message_id: 'm-4' });
    await device.endAsync();
    await app.stop();
    device = app = undefined;

    const after = openDatabase(storage, MIGRATIONS);
    await after.initialize();
    try {
      const ids = await after.query<{ id: number | string }[]>(`SELECT id FROM events ORDER BY id`);
      expect(ids.map((r) => Number(r.id)).slice(0, events.length)).toEqual(events.map((e) => Number(e.id)));
      expect(await after.query(`SELECT first_id, last_id FROM event_batches WHERE batch_key = 'old-batch'`)).toEqual([
        { first_id: sqlite ? 1 : '1', last_id: sqlite ? 3 : '3' },
      ]);
      if (!sqlite) return;
      const schema = await sqliteSchema(after);
      expect(schema.has('sqlite_autoindex_events_1')).toBe(false);
      expect(schema.get('events')).toContain('id INTEGER PRIMARY KEY');
      expect(schema.get('event_batches')).toMatch(/WITHOUT ROWID$/);
      expect([...schema.keys()].filter((n) => n.startsWith('events_')).sort()).toEqual([
        'events_device_idx',
        'events_message_idx',
        'events_received_idx',
      ]);

      // And back: `down` restores the old tables with every row.
      const counts = async (): Promise<unknown> =>
        after.query(`SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM event_batches) AS batches`);
      const before = await counts();
      await after.undoLastMigration();
      const undone = await sqliteSchema(after);
      expect(undone.has('sqlite_autoindex_events_1')).toBe(true);
      expect(undone.get('event_batches')).not.toContain('WITHOUT ROWID');
      expect(await counts()).toEqual(before);
    } finally {
      await after.destroy();
    }
  });
});

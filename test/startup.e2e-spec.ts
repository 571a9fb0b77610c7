import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { runService } from './support/process';
import { waitFor } from './support/wait';

/** The service as `npm start` runs it: a real process, its output, its signals. */
describe('start-up and shutdown', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'dhb-start-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('runs on the embedded defaults, prints where it listens, the tokens and lines to try, and flushes the log on SIGTERM', async () => {
    // Only the ports differ from the defaults: the machine's Mosquitto may hold 1883.
    const service = runService({ DATA_DIR: dataDir, PORT: '0', MQTT_PORT: '0' });
    try {
      const [, url] = await service.waitForOutput(/HTTP\s+(http:\/\/\S+)/);
      const [, adminToken] = await service.waitForOutput(/Admin token\s+(\S+)/);
      const [, clientToken] = await service.waitForOutput(/Client token\s+(\S+)/);
      expect(service.output()).toMatch(/MQTT\s+embedded broker mqtt:\/\/[\d.]+:\d+/);
      expect(service.output()).toMatch(/SQLite .*devicehub\.sqlite/);
      expect(service.output()).toContain('mosquitto_pub -h');
      expect(service.output()).toContain(`curl -s -H "Authorization: Bearer ${clientToken}" ${url}/api/devices`);

      const broadcast = await fetch(`${url}/admin/broadcast`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({
          device_type: 'weatherstation',
          device_id: 'ws-001',
          event_type: 'alert',
          data: { n: 1 },
        }),
      });
      expect(broadcast.status).toBe(200);
      const { id } = (await broadcast.json()) as { id: string };

      service.child.kill('SIGTERM');
      expect(await service.exited()).toBe(0);
      const db = new Database(join(dataDir, 'devicehub.sqlite'), { readonly: true });
      const row = db.prepare('SELECT body FROM events WHERE id = ?').get(Number(id)) as { body: string } | undefined;
      db.close();
      expect(JSON.parse(row?.body ?? '{}')).toMatchObject({ id, event: 'alert', data: { n: 1 } });
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  // A process start (ts-node) and a 20,000-message flood: slower than most tests on a busy machine.
  it('on SIGTERM keeps every message it acknowledged, writes the readings of every logged event, and exits 0', async () => {
    const service = runService({ DATA_DIR: dataDir, PORT: '0', MQTT_PORT: '0', DEVICE_AUTH: 'off' });
    try {
      const [, mqttUrl] = await service.waitForOutput(/embedded broker (mqtt:\/\/[\d.]+:\d+)/);
      const device = await mqtt.connectAsync(mqttUrl, { clientId: `sigterm-${process.pid}`, reconnectPeriod: 0 });
      device.on('error', () => undefined);
      // A QoS 1 flood: the broker acknowledges a message only once it is in the log.
      const acked = new Set<number>();
      for (let seq = 0; seq < 20_000; seq++) {
        device.publish('things/meter/m-1/data', JSON.stringify({ seq }), { qos: 1 }, (err) => {
          if (!err) acked.add(seq);
        });
      }
      await waitFor(() => (acked.size >= 2000 ? true : undefined), 'the first acknowledgements', 15_000);
      service.child.kill('SIGTERM');
      expect(await service.exited()).toBe(0);
      device.end(true);

      const db = new Database(join(dataDir, 'devicehub.sqlite'), { readonly: true });
      const logged = new Set(
        (db.prepare(`SELECT body FROM events WHERE device_id = 'm-1'`).all() as { body: string }[]).map(
          (r) => (JSON.parse(r.body) as { data: { seq: number } }).data.seq,
        ),
      );
      const readings = (
        db
          .prepare(
            `SELECT COUNT(*) AS n FROM readings r JOIN devices d ON d.device_key = r.device_key WHERE d.device_id = 'm-1' AND r.name = 'seq'`,
          )
          .get() as { n: number }
      ).n;
      db.close();
      const lost = [...acked].filter((seq) => !logged.has(seq));
      expect(lost).toEqual([]);
      expect(readings).toBe(logged.size);
    } finally {
      service.child.kill('SIGKILL');
    }
  }, 90_000);

  it('on SIGTERM with a log it cannot write, gives up after SHUTDOWN_TIMEOUT, names what it could not flush, and exits 1', async () => {
    const service = runService({ DATA_DIR: dataDir, PORT: '0', MQTT_PORT: '0', SHUTDOWN_TIMEOUT: '2s' });
    const lock = { db: undefined as Database.Database | undefined };
    try {
      const [, url] = await service.waitForOutput(/HTTP\s+(http:\/\/\S+)/);
      const [, adminToken] = await service.waitForOutput(/Admin token\s+(\S+)/);
      // Another connection holds the write lock: every batch the service tries fails with SQLITE_BUSY.
      lock.db = new Database(join(dataDir, 'devicehub.sqlite'), { timeout: 0 });
      lock.db.exec('BEGIN EXCLUSIVE');
      // Answered only once logged, so never: shutdown cuts the request.
      const held = fetch(`${url}/admin/broadcast`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ device_type: 'weatherstation', device_id: 'ws-001', event_type: 'alert', data: {} }),
      }).catch((err: unknown) => err);
      await service.waitForOutput(/Event log write failed, holding 1 events/, 20_000);

      service.child.kill('SIGTERM');
      // SHUTDOWN_TIMEOUT, then the writer thread's current wait for the lock (at most 5 s).
      expect(await service.exited(15_000)).toBe(1);
      expect(service.child.signalCode).toBeNull();
      const line = service
        .output()
        .split('\n')
        .find((l) => l.includes('Shutdown did not finish'));
      expect(JSON.parse(line ?? '{}')).toMatchObject({
        level: 50,
        msg: expect.stringMatching(
          /within SHUTDOWN_TIMEOUT \(2000 ms\): 1 events were not written to the event log \(the oldest: alert of weatherstation\/ws-001 received \d{4}-/,
        ),
      });
      // The sender never got an answer: its request was cut.
      expect(await held).toMatchObject({ message: 'fetch failed' });
    } finally {
      service.child.kill('SIGKILL');
      lock.db?.close();
    }
  }, 60_000);

  it('keeps its generated secrets across restarts', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      const service = runService({ DATA_DIR: dataDir, PORT: '0', MQTT_PORT: '0' });
      const [, adminToken] = await service.waitForOutput(/Admin token\s+(\S+)/);
      tokens.push(adminToken);
      service.child.kill('SIGTERM');
      const code = await service.exited();
      // A signal name here means the service died of it (no handler yet, or a native crash).
      expect({ code, signal: service.child.signalCode }).toEqual({ code: 0, signal: null });
    }
    expect(tokens[1]).toBe(tokens[0]);
  });

  it('refuses a bad configuration with one message naming each bad variable', async () => {
    const service = runService({ DATA_DIR: dataDir, PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x' });
    expect(await service.exited()).toBe(1);
    expect(service.errors()).toContain('Invalid configuration');
    expect(service.errors()).toContain('PORT=eighty: expected an integer from 0 to 65535');
    expect(service.errors()).toContain('LOG_LEVEL=loud: expected one of');
    expect(service.errors()).toContain('DATABASE_URL=mysql://x: expected sqlite:PATH');
  });
});

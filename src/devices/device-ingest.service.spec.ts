import { tmpdir } from 'node:os';
import { Test } from '@nestjs/testing';
import type { TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DeviceEvent, NewEvent } from '../bus/device-event';
import { BusModule } from '../bus/bus.module';
import { EventBusService } from '../bus/event-bus.service';
import { ClusterModule } from '../cluster/cluster.module';
import { ConfigModule } from '../config/config.module';
import { DeviceTypesModule } from '../config/device-types.module';
import { loadConfig } from '../config/load-config';
import { DatabaseModule } from '../database/database.module';
import { ObservabilityModule } from '../observability/observability.module';
import { Device } from './device.entity';
import { DeviceIngestService } from './device-ingest.service';
import { DeviceRegistryService } from './device-registry.service';
import { DeviceWriterService } from './device-writer.service';
import { DevicesRepository } from './devices.repository';
import type { IngestMessage } from './ingest-message';
import { Reading } from './reading.entity';

const RECEIVED = Date.UTC(2025, 0, 15, 12, 0, 0);
const RECEIVED_ISO = new Date(RECEIVED).toISOString();

/** The devices pipeline on the real bus and log, in an in-memory SQLite database. */
async function setup() {
  const config = loadConfig({
    DATABASE_URL: 'sqlite::memory:',
    DATA_DIR: tmpdir(),
    JWT_SECRET: 'test-secret',
    ADMIN_TOKEN: 'test-admin',
  });
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forRoot(config),
      ObservabilityModule,
      ClusterModule,
      DatabaseModule,
      BusModule,
      DeviceTypesModule,
      TypeOrmModule.forFeature([Device, Reading]),
    ],
    providers: [DeviceRegistryService, DeviceWriterService, DeviceIngestService],
  }).compile();
  modules.push(moduleRef);
  const bus = moduleRef.get(EventBusService);
  const writer = moduleRef.get(DeviceWriterService);
  const calls: NewEvent[][] = [];
  const enqueue = bus.enqueue.bind(bus);
  jest.spyOn(bus, 'enqueue').mockImplementation((events) => (calls.push([...events]), enqueue(events)));
  const committed: DeviceEvent[] = [];
  bus.batches$.subscribe((batch) => committed.push(...batch));
  await moduleRef.init();
  let room = true;
  let release: () => void = () => undefined;
  jest.spyOn(writer, 'hasRoom').mockImplementation(() => room);
  jest.spyOn(writer, 'room').mockImplementation(() => new Promise<void>((resolve) => (release = resolve)));
  return {
    ingest: moduleRef.get(DeviceIngestService),
    registry: moduleRef.get(DeviceRegistryService),
    repository: moduleRef.get(DevicesRepository),
    writer,
    calls,
    /** What the log committed, without the positions. */
    events: () => committed.map(({ id: _id, ...e }) => e),
    fill: () => (room = false),
    drain: () => {
      room = true;
      release();
    },
  };
}

const modules: TestingModule[] = [];
afterEach(async () => {
  for (const m of modules.splice(0)) await m.close();
});

const base = { deviceType: 'weatherstation', deviceId: 'ws-001', receivedAt: RECEIVED };
const statusMsg = (status: string, extra: Partial<Extract<IngestMessage, { kind: 'status' }>> = {}): IngestMessage => ({
  ...base,
  kind: 'status',
  status,
  extra: {},
  ...extra,
});

describe('DeviceIngestService', () => {
  it('makes one data event per sample, timed by the device when it says, and publishes a call in one go', async () => {
    const s = await setup();
    await s.ingest.ingest([
      { ...base, kind: 'data', samples: [{ values: { temperature: 25.3, humidity: 80.1 } }] },
      {
        ...base,
        kind: 'data',
        samples: [
          { timestamp: '2025-01-15T11:59:00.000Z', values: { temperature: 25.1 } },
          { timestamp: '2025-01-15T11:59:30.000Z', values: { temperature: 25.2 } },
        ],
      },
    ]);
    expect(s.calls).toHaveLength(1);
    expect(s.events()).toEqual([
      {
        event: 'data',
        device_type: 'weatherstation',
        device_id: 'ws-001',
        data: { temperature: 25.3, humidity: 80.1 },
        timestamp: RECEIVED_ISO,
        received_at: RECEIVED_ISO,
      },
      {
        event: 'data',
        device_type: 'weatherstation',
        device_id: 'ws-001',
        data: { temperature: 25.1 },
        timestamp: '2025-01-15T11:59:00.000Z',
        received_at: RECEIVED_ISO,
      },
      {
        event: 'data',
        device_type: 'weatherstation',
        device_id: 'ws-001',
        data: { temperature: 25.2 },
        timestamp: '2025-01-15T11:59:30.000Z',
        received_at: RECEIVED_ISO,
      },
    ]);
  });

  it('leaves out a message that cannot become events and names it, the others of the call go on (issue #18)', async () => {
    const s = await setup();
    const broken = { ...base, kind: 'data', samples: null } as unknown as IngestMessage;
    const { failed, written } = await s.ingest.enqueue([
      { ...base, kind: 'data', samples: [{ values: { n: 1 } }] },
      broken,
      { ...base, kind: 'data', samples: [{ values: { n: 2 } }] },
    ]);
    await written;
    expect(failed).toEqual([{ index: 1, error: expect.any(TypeError) }]);
    expect(s.calls).toHaveLength(1);
    expect(s.events().map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('keeps status fields named like Object.prototype members in the event data', async () => {
    const s = await setup();
    const extra = JSON.parse('{"__proto__": {"x": 1}, "constructor": 2}') as Record<string, unknown>;
    await s.ingest.ingest([statusMsg('online', { extra })]);
    expect(JSON.parse(JSON.stringify(s.events()[0].data))).toEqual(
      JSON.parse('{"old_status": null, "new_status": "online", "__proto__": {"x": 1}, "constructor": 2}'),
    );
  });

  it("puts a message's message_id on its events and opens the message with the first (issue #11)", async () => {
    const s = await setup();
    // Offline first: the activity status that follows is the registry's news, not the message's.
    await s.ingest.ingest([statusMsg('offline')]);
    await s.ingest.ingest([
      {
        ...base,
        kind: 'data',
        messageId: 'm-1',
        samples: [{ values: { temperature: 1 } }, { values: { temperature: 2 } }],
      },
      { ...base, kind: 'command_response', messageId: 'm-2', requestId: 'r', result: 1 },
      { ...base, kind: 'data', samples: [{ values: { temperature: 3 } }] },
    ]);
    const marks = s.calls[1].map((e) => [e.event, e.message_id, e.opensMessage]);
    expect(marks).toEqual([
      ['status', undefined, undefined],
      ['data', 'm-1', true],
      ['data', 'm-1', undefined],
      ['command_response', 'm-2', true],
      ['data', undefined, undefined],
    ]);
  });

  it('leaves the device as it was when a message is a redelivery of one in the log (issue #14)', async () => {
    const s = await setup();
    const reading: IngestMessage = { ...base, kind: 'data', messageId: 'm-1', samples: [{ values: { t: 1 } }] };
    await s.ingest.ingest([reading]);
    await s.ingest.ingest([statusMsg('low_battery', { messageId: 'm-2' })]);
    const later = { receivedAt: RECEIVED + 60_000 };
    // Both come again a minute later (a broker redelivering after a reconnect), then a fresh status.
    await s.ingest.ingest([
      { ...reading, ...later, samples: [{ values: { t: 99 } }] },
      statusMsg('error', { messageId: 'm-2', ...later }),
    ]);
    const kept = {
      status: 'low_battery',
      lastSeen: RECEIVED,
      latestReadings: { t: { value: 1, timestamp: RECEIVED_ISO } },
    };
    expect(s.registry.get('weatherstation', 'ws-001')).toMatchObject(kept);
    expect(s.registry.current('weatherstation', 'ws-001')).toMatchObject(kept);
    await s.ingest.ingest([statusMsg('maintenance', later)]);
    expect(s.events().map((e) => [e.event, e.data.old_status, e.data.new_status])).toEqual([
      ['data', undefined, undefined],
      ['status', 'online', 'low_battery'],
      ['status', 'low_battery', 'maintenance'],
    ]);
    await s.writer.flush();
    const [stored] = await s.repository.loadDevices();
    expect(stored).toMatchObject({ status: 'maintenance', lastSeen: RECEIVED + 60_000 });
    expect(stored.latestReadings).toEqual({ t: { value: 1, timestamp: RECEIVED_ISO } });
  });

  it('gives status events old and new status in message order, null for a new device', async () => {
    const s = await setup();
    await s.ingest.ingest([
      statusMsg('online', {
        batteryLevel: 85.5,
        firmwareVersion: '2.1.0',
        timestamp: '2025-01-15T11:00:00.000Z',
        extra: { signal: -70 },
      }),
      statusMsg('low_battery', { batteryLevel: 9 }),
    ]);
    await s.ingest.ingest([statusMsg('offline')]);
    expect(s.events()).toEqual([
      {
        event: 'status',
        device_type: 'weatherstation',
        device_id: 'ws-001',
        data: { old_status: null, new_status: 'online', battery_level: 85.5, firmware_version: '2.1.0', signal: -70 },
        timestamp: '2025-01-15T11:00:00.000Z',
        received_at: RECEIVED_ISO,
      },
      expect.objectContaining({
        data: { old_status: 'online', new_status: 'low_battery', battery_level: 9 },
        timestamp: RECEIVED_ISO,
      }),
      expect.objectContaining({ data: { old_status: 'low_battery', new_status: 'offline' } }),
    ]);
  });

  it('does not let a device overwrite the statuses the service computes', async () => {
    const s = await setup();
    await s.ingest.ingest([statusMsg('online', { extra: { old_status: 'forged', new_status: 'forged', note: 'hi' } })]);
    expect(s.events()[0].data).toEqual({ old_status: null, new_status: 'online', note: 'hi' });
  });

  it('turns a command response into a command_response event with result or error', async () => {
    const s = await setup();
    await s.ingest.ingest([
      { ...base, kind: 'command_response', requestId: 'r1', result: { interval: 60 } },
      {
        ...base,
        kind: 'command_response',
        requestId: 'r2',
        error: 'unsupported',
        timestamp: '2025-01-15T11:00:00.000Z',
      },
      { ...base, kind: 'command_response', requestId: 'r3' },
    ]);
    expect(s.events()).toEqual([
      {
        event: 'command_response',
        device_type: 'weatherstation',
        device_id: 'ws-001',
        data: { request_id: 'r1', result: { interval: 60 } },
        timestamp: RECEIVED_ISO,
        received_at: RECEIVED_ISO,
      },
      expect.objectContaining({
        data: { request_id: 'r2', error: 'unsupported' },
        timestamp: '2025-01-15T11:00:00.000Z',
      }),
      expect.objectContaining({ data: { request_id: 'r3', result: undefined } }),
    ]);
    expect(s.registry.get('weatherstation', 'ws-001')?.status).toBe('online');
  });

  it('brings an offline device back online with a status event before its data', async () => {
    const s = await setup();
    await s.ingest.ingest([statusMsg('offline')]);
    await s.ingest.ingest([{ ...base, kind: 'data', samples: [{ values: { t: 1 } }] }]);
    expect(s.events().map((e) => [e.event, e.data])).toEqual([
      ['status', { old_status: null, new_status: 'offline' }],
      ['status', { old_status: 'offline', new_status: 'online', reason: 'activity' }],
      ['data', { t: 1 }],
    ]);
    // Data from a device in another state leaves its status alone.
    await s.ingest.ingest([statusMsg('maintenance'), { ...base, kind: 'data', samples: [{ values: { t: 2 } }] }]);
    expect(
      s
        .events()
        .slice(3)
        .map((e) => e.event),
    ).toEqual(['status', 'data']);
    expect(s.registry.get('weatherstation', 'ws-001')?.status).toBe('maintenance');
  });

  it('makes a device known as provisioning when its credentials are minted, and leaves a known one alone', async () => {
    const s = await setup();
    await s.ingest.provisioned('weatherstation', 'ws-010');
    expect(s.registry.get('weatherstation', 'ws-010')?.status).toBe('provisioning');
    await s.ingest.ingest([{ ...base, kind: 'data', samples: [{ values: { t: 1 } }] }]);
    await s.ingest.provisioned('weatherstation', 'ws-001');
    expect(s.registry.get('weatherstation', 'ws-001')?.status).toBe('online');
    expect(s.events().map((e) => [e.device_id, e.event, e.data])).toEqual([
      ['ws-010', 'status', { old_status: null, new_status: 'provisioning', reason: 'credentials_minted' }],
      ['ws-001', 'data', { t: 1 }],
    ]);
  });

  it('marks a device online when it connects, unless it reported a status of its own', async () => {
    const s = await setup();
    await s.ingest.provisioned('weatherstation', 'ws-010');
    await s.ingest.connected('weatherstation', 'ws-010');
    await s.ingest.connected('weatherstation', 'ws-011');
    await s.ingest.connected('weatherstation', 'ws-011');
    await s.ingest.ingest([statusMsg('maintenance')]);
    await s.ingest.connected('weatherstation', 'ws-001');
    expect(s.registry.get('weatherstation', 'ws-001')?.status).toBe('maintenance');
    expect(s.events().map((e) => [e.device_id, e.data.old_status, e.data.new_status, e.data.reason])).toEqual([
      ['ws-010', null, 'provisioning', 'credentials_minted'],
      ['ws-010', 'provisioning', 'online', 'connected'],
      ['ws-011', null, 'online', 'connected'],
      ['ws-001', null, 'maintenance', undefined],
    ]);
  });

  it('marks a device offline when its signalling connection closes, once, and not one it never heard of', async () => {
    const s = await setup();
    await s.ingest.provisioned('weatherstation', 'ws-010', 'token_minted');
    await s.ingest.connected('weatherstation', 'ws-010');
    await s.ingest.disconnected('weatherstation', 'ws-010');
    await s.ingest.disconnected('weatherstation', 'ws-010');
    await s.ingest.disconnected('weatherstation', 'ws-099');
    expect(s.registry.get('weatherstation', 'ws-010')?.status).toBe('offline');
    expect(s.events().map((e) => [e.device_id, e.data.old_status, e.data.new_status, e.data.reason])).toEqual([
      ['ws-010', null, 'provisioning', 'token_minted'],
      ['ws-010', 'provisioning', 'online', 'connected'],
      ['ws-010', 'online', 'offline', 'disconnected'],
    ]);
  });

  it('publishes nothing for an empty call', async () => {
    const s = await setup();
    await s.ingest.ingest([]);
    expect(s.calls).toEqual([]);
  });

  it('waits for the readings writer to have room before publishing', async () => {
    const s = await setup();
    s.fill();
    let done = false;
    const ingesting = s.ingest
      .ingest([{ ...base, kind: 'data', samples: [{ values: { t: 1 } }] }])
      .then(() => (done = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.calls).toEqual([]);
    expect(done).toBe(false);
    s.drain();
    await ingesting;
    expect(s.calls).toHaveLength(1);
  });
});

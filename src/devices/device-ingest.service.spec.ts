import { NEVER } from 'rxjs';
import type { NewEvent } from '../bus/device-event';
import type { EventBusService } from '../bus/event-bus.service';
import type { ClusterLeaseService } from '../cluster/cluster-lease.service';
import type { DeviceTypes } from '../config/device-types';
import { DeviceIngestService } from './device-ingest.service';
import { DeviceRegistryService } from './device-registry.service';
import type { DeviceWriterService } from './device-writer.service';
import type { DevicesRepository } from './devices.repository';
import type { IngestMessage } from './ingest-message';
import { isLocal } from './local-events';

const RECEIVED = Date.UTC(2025, 0, 15, 12, 0, 0);
const RECEIVED_ISO = new Date(RECEIVED).toISOString();

async function setup() {
  const calls: NewEvent[][] = [];
  const bus = {
    enqueue: jest.fn((events: NewEvent[]) => (calls.push(events), Promise.resolve({ written: Promise.resolve([]) }))),
    batches$: NEVER,
  };
  const deviceTypes = { heartbeatMs: () => 300_000 } as unknown as DeviceTypes;
  const repo = { loadDevices: () => Promise.resolve([]) } as unknown as DevicesRepository;
  const lease = { isLeader: true } as ClusterLeaseService;
  const registry = new DeviceRegistryService(repo, deviceTypes, bus as unknown as EventBusService, lease);
  await registry.onModuleInit();
  let room = true;
  let release: () => void = () => undefined;
  const writer = {
    hasRoom: () => room,
    room: () => new Promise<void>((resolve) => (release = resolve)),
  };
  const ingest = new DeviceIngestService(
    bus as unknown as EventBusService,
    registry,
    writer as unknown as DeviceWriterService,
  );
  return {
    ingest,
    registry,
    calls,
    events: () => calls.flat(),
    fill: () => (room = false),
    drain: () => {
      room = true;
      release();
    },
  };
}

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
    // Marked as this instance's, for the writer.
    expect(s.events().every((e) => isLocal(e))).toBe(true);
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
    const { failed } = await s.ingest.enqueue([
      { ...base, kind: 'data', samples: [{ values: { n: 1 } }] },
      broken,
      { ...base, kind: 'data', samples: [{ values: { n: 2 } }] },
    ]);
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
    expect(s.events().every(isLocal)).toBe(true);
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

import { Subject } from 'rxjs';
import type { DeviceEvent, NewEvent } from '../bus/device-event';
import type { EventBusService } from '../bus/event-bus.service';
import type { ClusterLeaseService } from '../cluster/cluster-lease.service';
import type { DeviceTypes } from '../config/device-types';
import type { Device } from './device.entity';
import { DeviceRegistryService, FOLLOWER_SWEEP_MS, MIN_SWEEP_GAP_MS, isLater } from './device-registry.service';
import type { DevicesRepository } from './devices.repository';
import type { IngestMessage } from './ingest-message';
import { markLocal } from './local-events';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

/** Heartbeats in seconds per type; anything else gets the 300 s default. */
function fakeDeviceTypes(heartbeats: Record<string, number>): DeviceTypes {
  return { heartbeatMs: (type: string) => (heartbeats[type] ?? 300) * 1000 } as unknown as DeviceTypes;
}

async function makeRegistry(stored: Device[] = [], heartbeats: Record<string, number> = { ws: 10, cam: 2 }) {
  const published: NewEvent[][] = [];
  const committed = new Subject<readonly DeviceEvent[]>();
  const bus = {
    publish: jest.fn((events: NewEvent[]) => (published.push(events), Promise.resolve([]))),
    batches$: committed.asObservable(),
  };
  const repo = { loadDevices: () => Promise.resolve(stored.map((d) => ({ ...d }))) };
  const lease = { isLeader: true };
  const registry = new DeviceRegistryService(
    repo as unknown as DevicesRepository,
    fakeDeviceTypes(heartbeats),
    bus as unknown as EventBusService,
    lease as ClusterLeaseService,
  );
  await registry.onModuleInit();
  registry.onApplicationBootstrap();
  let nextId = 1;
  /** Commits events on the bus as another instance (or a broadcast) would. */
  const commit = (...events: NewEvent[]): void => committed.next(events.map((e) => ({ id: String(nextId++), ...e })));
  return { registry, published, bus, lease, commit };
}

const remote = (event: string, deviceId: string, data: Record<string, unknown>, at = Date.now()): NewEvent => ({
  event,
  device_type: 'ws',
  device_id: deviceId,
  data,
  timestamp: new Date(at).toISOString(),
  received_at: new Date(at).toISOString(),
});

const status = (deviceType: string, deviceId: string, value: string): IngestMessage => ({
  kind: 'status',
  deviceType,
  deviceId,
  status: value,
  receivedAt: Date.now(),
  extra: {},
});
const data = (
  deviceType: string,
  deviceId: string,
  samples: { timestamp?: string; values: Record<string, unknown> }[],
): IngestMessage => ({
  kind: 'data',
  deviceType,
  deviceId,
  receivedAt: Date.now(),
  samples,
});

describe('DeviceRegistryService', () => {
  let registry: DeviceRegistryService | undefined;
  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    registry?.onModuleDestroy();
    jest.useRealTimers();
  });

  it('registers a device on its first message and reports the status before and after', async () => {
    ({ registry } = await makeRegistry());
    expect(registry.record(data('ws', 'a', [{ values: { t: 1 } }]))).toEqual({ before: null, after: 'online' });
    expect(registry.record(status('ws', 'a', 'maintenance'))).toEqual({ before: 'online', after: 'maintenance' });
    expect(registry.record(status('ws', 'b', 'provisioning'))).toEqual({ before: null, after: 'provisioning' });
    expect(registry.get('ws', 'a')).toMatchObject({ status: 'maintenance', firstSeen: T0, lastSeen: T0 });
  });

  it('keeps battery and firmware from status messages, and the newest sample of each reading', async () => {
    ({ registry } = await makeRegistry());
    registry.record({ ...status('ws', 'a', 'online'), batteryLevel: 85.5, firmwareVersion: '2.1.0' } as IngestMessage);
    registry.record(status('ws', 'a', 'low_battery'));
    registry.record(
      data('ws', 'a', [
        { timestamp: '2025-01-15T11:00:00.000Z', values: { temperature: 20, humidity: 50 } },
        { timestamp: '2025-01-15T11:01:00.000Z', values: { temperature: 21 } },
      ]),
    );
    // A late batch with an older sample does not replace the newer one.
    registry.record(
      data('ws', 'a', [{ timestamp: '2025-01-15T10:00:00.000Z', values: { temperature: 5, pressure: 1013 } }]),
    );
    expect(registry.get('ws', 'a')).toMatchObject({
      status: 'low_battery',
      batteryLevel: 85.5,
      firmwareVersion: '2.1.0',
      latestReadings: {
        temperature: { value: 21, timestamp: '2025-01-15T11:01:00.000Z' },
        humidity: { value: 50, timestamp: '2025-01-15T11:00:00.000Z' },
        pressure: { value: 1013, timestamp: '2025-01-15T10:00:00.000Z' },
      },
    });
    // Without a device time, the receive time stands in.
    jest.setSystemTime(T0 + 5000);
    registry.record(data('ws', 'a', [{ values: { temperature: 22 } }]));
    expect(registry.get('ws', 'a')?.latestReadings.temperature).toEqual({
      value: 22,
      timestamp: new Date(T0 + 5000).toISOString(),
    });
  });

  it('never marks a provisioning device offline for its silence: it is waited for', async () => {
    let published: NewEvent[][];
    ({ registry, published } = await makeRegistry());
    registry.record(status('ws', 'new', 'provisioning'));
    registry.record(status('ws', 'up', 'online'));
    jest.advanceTimersByTime(60_000);
    expect(registry.get('ws', 'new')?.status).toBe('provisioning');
    expect(registry.get('ws', 'up')?.status).toBe('offline');
    expect(published.flat().map((e) => e.device_id)).toEqual(['up']);
  });

  it('keeps readings named like Object.prototype members, also after a restart (issue #18)', async () => {
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
    const values = JSON.parse(`{${names.map((n, i) => `"${n}": ${i}`).join(', ')}}`) as Record<string, unknown>;
    ({ registry } = await makeRegistry());
    registry.record(data('ws', 'a', [{ timestamp: '2025-01-15T11:00:00.000Z', values }]));
    registry.record(data('ws', 'a', [{ timestamp: '2025-01-15T10:00:00.000Z', values }]));
    const latest = registry.get('ws', 'a')?.latestReadings ?? {};
    expect(Object.keys(latest)).toEqual(names);
    expect(JSON.parse(JSON.stringify(latest))).toEqual(
      JSON.parse(
        `{${names.map((n, i) => `"${n}": {"value": ${i}, "timestamp": "2025-01-15T11:00:00.000Z"}`).join(', ')}}`,
      ),
    );
    // What the table gives back is a parsed object: it is read as a prototype-free map too.
    const stored = JSON.parse(JSON.stringify([registry.get('ws', 'a')])) as Device[];
    ({ registry } = await makeRegistry(stored));
    registry.record(data('ws', 'a', [{ timestamp: '2025-01-15T12:00:00.000Z', values: { constructor: 9 } }]));
    expect(registry.get('ws', 'a')?.latestReadings.constructor).toEqual({
      value: 9,
      timestamp: '2025-01-15T12:00:00.000Z',
    });
    expect(Object.keys(registry.get('ws', 'a')?.latestReadings ?? {})).toEqual(names);
  });

  it('marks a device offline after 2.5 heartbeats of silence, with one status event', async () => {
    let published: NewEvent[][];
    ({ registry, published } = await makeRegistry());
    registry.record(status('ws', 'a', 'online'));
    jest.advanceTimersByTime(24_999);
    expect(registry.get('ws', 'a')?.status).toBe('online');
    expect(published).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(registry.get('ws', 'a')?.status).toBe('offline');
    const at = new Date(T0 + 25_000).toISOString();
    expect(published).toEqual([
      [
        {
          event: 'status',
          device_type: 'ws',
          device_id: 'a',
          data: {
            old_status: 'online',
            new_status: 'offline',
            reason: 'heartbeat_timeout',
            last_seen: new Date(T0).toISOString(),
          },
          timestamp: at,
          received_at: at,
        },
      ],
    ]);
    // Once offline it is not swept again.
    jest.advanceTimersByTime(100_000);
    expect(published).toHaveLength(1);
  });

  it('restarts the silence clock whenever the device is heard', async () => {
    let published: NewEvent[][];
    ({ registry, published } = await makeRegistry());
    registry.record(status('ws', 'a', 'online'));
    for (let i = 0; i < 10; i++) {
      jest.advanceTimersByTime(20_000);
      registry.record(data('ws', 'a', [{ values: { t: i } }]));
    }
    expect(published).toEqual([]);
    jest.advanceTimersByTime(25_000);
    expect(published.flat().map((e) => e.data.new_status)).toEqual(['offline']);
  });

  it('uses each type its own heartbeat and publishes devices due together in one call', async () => {
    let published: NewEvent[][];
    ({ registry, published } = await makeRegistry());
    registry.record(status('ws', 'slow', 'online'));
    registry.record(status('cam', 'c1', 'error'));
    registry.record(status('cam', 'c2', 'maintenance'));
    registry.record(status('other', 'x', 'online'));
    jest.advanceTimersByTime(5000 + MIN_SWEEP_GAP_MS);
    expect(published).toHaveLength(1);
    expect(published[0].map((e) => [e.device_id, e.data.old_status, e.data.new_status])).toEqual([
      ['c1', 'error', 'offline'],
      ['c2', 'maintenance', 'offline'],
    ]);
    jest.advanceTimersByTime(20_000);
    expect(published.flat().map((e) => e.device_id)).toEqual(['c1', 'c2', 'slow']);
    // Undeclared types use the default heartbeat of 300 s: offline after 750 s.
    jest.advanceTimersByTime(750_000 - 25_000 - MIN_SWEEP_GAP_MS - 1);
    expect(registry.get('other', 'x')?.status).toBe('online');
    jest.advanceTimersByTime(MIN_SWEEP_GAP_MS + 1);
    expect(registry.get('other', 'x')?.status).toBe('offline');
  });

  it('does not sweep a device that reported offline itself (a last will), and watches it again once heard', async () => {
    let published: NewEvent[][];
    ({ registry, published } = await makeRegistry());
    registry.record(status('ws', 'a', 'online'));
    registry.record(status('ws', 'a', 'offline'));
    jest.advanceTimersByTime(60_000);
    expect(published).toEqual([]);
    expect(registry.record(data('ws', 'a', [{ values: { t: 1 } }]))).toEqual({ before: 'offline', after: 'online' });
    jest.advanceTimersByTime(25_000);
    expect(published.flat().map((e) => e.data)).toEqual([
      expect.objectContaining({ old_status: 'online', new_status: 'offline' }),
    ]);
  });

  it('comes back from the table on restart and sweeps devices that went silent while it was down', async () => {
    const stored: Device[] = [
      {
        deviceType: 'ws',
        deviceId: 'recent',
        status: 'online',
        firstSeen: T0 - 50_000,
        lastSeen: T0 - 1000,
        batteryLevel: 50,
        firmwareVersion: '1',
        latestReadings: { t: { value: 1, timestamp: 'x' } },
      },
      {
        deviceType: 'ws',
        deviceId: 'stale',
        status: 'online',
        firstSeen: T0 - 90_000,
        lastSeen: T0 - 60_000,
        batteryLevel: null,
        firmwareVersion: null,
        latestReadings: {},
      },
      {
        deviceType: 'ws',
        deviceId: 'gone',
        status: 'offline',
        firstSeen: T0 - 90_000,
        lastSeen: T0 - 80_000,
        batteryLevel: null,
        firmwareVersion: null,
        latestReadings: {},
      },
    ];
    let published: NewEvent[][];
    ({ registry, published } = await makeRegistry(stored));
    expect(registry.size).toBe(3);
    expect(registry.get('ws', 'recent')).toEqual(stored[0]);
    expect(registry.record(status('ws', 'gone', 'online')).before).toBe('offline');
    jest.advanceTimersByTime(MIN_SWEEP_GAP_MS);
    expect(published.flat().map((e) => e.device_id)).toEqual(['stale']);
    jest.advanceTimersByTime(24_000 - MIN_SWEEP_GAP_MS);
    expect(published.flat().map((e) => e.device_id)).toEqual(['stale', 'recent']);
  });

  it('learns devices and statuses from events other instances committed, and ignores its own', async () => {
    let commit: (...events: NewEvent[]) => void;
    ({ registry, commit } = await makeRegistry());
    commit(remote('data', 'r1', { temperature: 20 }));
    expect(registry.get('ws', 'r1')).toEqual({
      deviceType: 'ws',
      deviceId: 'r1',
      status: 'online',
      firstSeen: T0,
      lastSeen: T0,
      batteryLevel: null,
      firmwareVersion: null,
      latestReadings: { temperature: { value: 20, timestamp: new Date(T0).toISOString() } },
    });
    jest.setSystemTime(T0 + 1000);
    commit(
      remote('status', 'r1', {
        old_status: 'online',
        new_status: 'low_battery',
        battery_level: 7,
        firmware_version: '9',
      }),
    );
    expect(registry.get('ws', 'r1')).toMatchObject({
      status: 'low_battery',
      batteryLevel: 7,
      firmwareVersion: '9',
      lastSeen: T0 + 1000,
    });
    // This instance's own events were applied when they were ingested.
    const own = remote('status', 'r1', { old_status: 'low_battery', new_status: 'error' });
    markLocal([own]);
    commit(own);
    expect(registry.get('ws', 'r1')?.status).toBe('low_battery');
    // The other instance's sweep: offline, but the device was not heard.
    jest.setSystemTime(T0 + 30_000);
    commit(remote('status', 'r1', { old_status: 'low_battery', new_status: 'offline', reason: 'heartbeat_timeout' }));
    expect(registry.get('ws', 'r1')).toMatchObject({ status: 'offline', lastSeen: T0 + 1000 });
    // Events that do not come from devices leave the registry alone.
    commit(remote('alert', 'r2', {}), remote('command', 'r2', { request_id: 'x' }));
    expect(registry.get('ws', 'r2')).toBeUndefined();
  });

  it('sweeps only while this instance leads the cluster; the followers learn from the leader', async () => {
    let published: NewEvent[][];
    let lease: { isLeader: boolean };
    let commit: (...events: NewEvent[]) => void;
    ({ registry, published, lease, commit } = await makeRegistry());
    lease.isLeader = false;
    registry.record(status('ws', 'a', 'online'));
    registry.record(status('ws', 'b', 'online'));
    jest.advanceTimersByTime(30_000);
    expect(published).toEqual([]);
    commit(remote('status', 'a', { old_status: 'online', new_status: 'offline', reason: 'heartbeat_timeout' }));
    expect(registry.get('ws', 'a')?.status).toBe('offline');
    // The leader went away before sweeping b: this instance takes over within a second.
    lease.isLeader = true;
    jest.advanceTimersByTime(FOLLOWER_SWEEP_MS);
    expect(published.flat().map((e) => [e.device_id, e.data.new_status])).toEqual([['b', 'offline']]);
  });
});

describe('isLater', () => {
  it('orders toISOString times as text and any other ISO 8601 form by parsing', () => {
    expect(isLater('2025-01-15T12:00:00.001Z', '2025-01-15T12:00:00.000Z')).toBe(true);
    expect(isLater('2025-01-15T12:00:00.000Z', '2025-01-15T12:00:00.001Z')).toBe(false);
    expect(isLater('2025-01-15T12:00:00.000Z', '2025-01-15T12:00:00.000Z')).toBe(false);
    // 13:00+02:00 is 11:00Z: earlier, though it sorts later as text.
    expect(isLater('2025-01-15T13:00:00+02:00', '2025-01-15T12:00:00.000Z')).toBe(false);
    expect(isLater('2025-01-15T12:00:01Z', '2025-01-15T12:00:00.500Z')).toBe(true);
  });
});

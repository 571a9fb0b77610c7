import { Subject } from 'rxjs';
import type { DeviceEvent, NewEvent } from '../bus/device-event';
import type { EventBusService } from '../bus/event-bus.service';
import type { ClusterLeaseService } from '../cluster/cluster-lease.service';
import type { DeviceTypes } from '../config/device-types';
import type { Device } from './device.entity';
import { dataEvent, statusEvent } from './device-events';
import { DeviceRegistryService, FOLLOWER_SWEEP_MS, MIN_SWEEP_GAP_MS } from './device-registry.service';
import type { DevicesRepository } from './devices.repository';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

/** Heartbeats in seconds per type; anything else gets the 300 s default. */
function fakeDeviceTypes(heartbeats: Record<string, number>): DeviceTypes {
  return { heartbeatMs: (type: string) => (heartbeats[type] ?? 300) * 1000 } as unknown as DeviceTypes;
}

/**
 * A registry on a bus that commits what is published at once, as the
 * in-process bus does: positioned, on `batches$`, then answered. Events in
 * `leftOut` are not taken, as the log leaves out a redelivered message.
 */
async function makeRegistry(
  stored: Device[] = [],
  heartbeats: Record<string, number> = { ws: 10, cam: 2 },
  /** The log past the stored rows' position (0): what a crash left unprojected. */
  logged: DeviceEvent[] = [],
) {
  const published: NewEvent[][] = [];
  const leftOut = new Set<NewEvent>();
  const committed = new Subject<readonly DeviceEvent[]>();
  let nextId = 1;
  /** Commits events on the bus as another instance (or a broadcast) would. */
  const commit = (...events: NewEvent[]): DeviceEvent[] => {
    const positioned = events.map((e) => ({ id: String(nextId++), ...e }));
    if (positioned.length > 0) committed.next(positioned);
    return positioned;
  };
  const bus = {
    publish: jest.fn((events: NewEvent[]) => {
      published.push(events);
      return Promise.resolve(commit(...events.filter((e) => !leftOut.has(e))));
    }),
    follow: (after: number, next: (batch: readonly DeviceEvent[]) => void) => {
      const replay = logged.filter((e) => Number(e.id) > after);
      if (replay.length > 0) next(replay);
      const live = committed.subscribe(next);
      return { caughtUp: Promise.resolve(), stop: () => live.unsubscribe() };
    },
  };
  nextId += logged.length;
  const repo = {
    loadDevices: () => Promise.resolve(stored.map((d) => ({ ...d }))),
    projected: () => Promise.resolve(0),
  };
  const lease = { isLeader: true };
  const registry = new DeviceRegistryService(
    repo as unknown as DevicesRepository,
    fakeDeviceTypes(heartbeats),
    bus as unknown as EventBusService,
    lease as ClusterLeaseService,
  );
  await registry.onModuleInit();
  registry.onApplicationBootstrap();
  /** Publishes events as ingestion does: projected first, then answered by the log. */
  const ingest = (...events: NewEvent[]): Promise<unknown> => {
    registry.project(events);
    const written = bus.publish(events);
    registry.track(events, written);
    return written.then(() => undefined);
  };
  return { registry, published, bus, lease, commit, ingest, leftOut };
}

const iso = (at = Date.now()): string => new Date(at).toISOString();
const from = (deviceId: string, deviceType = 'ws', at = Date.now()) => ({
  deviceType,
  deviceId,
  timestamp: iso(at),
  receivedAt: iso(at),
});
const status = (deviceType: string, deviceId: string, value: string, old: string | null = null): NewEvent =>
  statusEvent(from(deviceId, deviceType), old, value);
const data = (deviceId: string, values: Record<string, unknown>): NewEvent => dataEvent(from(deviceId), values);
const remote = (event: string, deviceId: string, eventData: Record<string, unknown>, at = Date.now()): NewEvent => ({
  event,
  device_type: 'ws',
  device_id: deviceId,
  data: eventData,
  timestamp: iso(at),
  received_at: iso(at),
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

  it("shows this instance's events at once in current(), and in get() once the log has them", async () => {
    let ingest: (...events: NewEvent[]) => Promise<unknown>;
    ({ registry, ingest } = await makeRegistry());
    const first = data('a', { t: 1 });
    registry.project([first]);
    expect(registry.current('ws', 'a')).toMatchObject({ status: 'online', lastSeen: T0 });
    expect(registry.get('ws', 'a')).toBeUndefined();
    await ingest(status('ws', 'b', 'maintenance'));
    expect(registry.get('ws', 'b')).toMatchObject({ status: 'maintenance', firstSeen: T0, lastSeen: T0 });
    expect(registry.current('ws', 'b')).toBe(registry.get('ws', 'b'));
  });

  it('never changes a device it handed out: later events, projected or committed, make a new one', async () => {
    let ingest: (...events: NewEvent[]) => Promise<unknown>;
    let commit: (...events: NewEvent[]) => DeviceEvent[];
    ({ registry, ingest, commit } = await makeRegistry());
    await ingest(data('a', { t: 1 }));
    const committed = registry.get('ws', 'a') as Device;
    const frozenCommitted = JSON.stringify(committed);
    // Projected: the entry's own copy changes in place until current() hands it out.
    registry.project([data('a', { t: 2 }), data('a', { t: 3 })]);
    const projected = registry.current('ws', 'a') as Device;
    expect(projected.latestReadings.t.value).toBe(3);
    registry.project([status('ws', 'a', 'error', 'online')]);
    expect(projected.status).toBe('online');
    expect(registry.currentStatus('ws', 'a')).toBe('error');
    // Committed: one batch folds into one new device; the one handed out before stays as it was.
    jest.setSystemTime(T0 + 1000);
    commit(data('a', { t: 4 }), data('a', { t: 5, u: 1 }));
    expect(JSON.stringify(committed)).toBe(frozenCommitted);
    expect(registry.get('ws', 'a')).toMatchObject({
      lastSeen: T0 + 1000,
      latestReadings: { t: { value: 5 }, u: { value: 1 } },
    });
  });

  it('forgets what a left-out event would have done: a redelivered message changes nothing (issue #14)', async () => {
    let ingest: (...events: NewEvent[]) => Promise<unknown>;
    let leftOut: Set<NewEvent>;
    ({ registry, ingest, leftOut } = await makeRegistry());
    await ingest(data('a', { t: 1 }));
    jest.setSystemTime(T0 + 60_000);
    const redelivered = { ...status('ws', 'a', 'offline', 'online'), message_id: 'm-1', opensMessage: true };
    const again = { ...data('a', { t: 0 }), message_id: 'm-2', opensMessage: true };
    leftOut.add(redelivered).add(again);
    const answered = ingest(redelivered, again);
    // Until the log answers, the next message is judged as if they were new.
    expect(registry.current('ws', 'a')?.status).toBe('offline');
    await answered;
    const before = { status: 'online', lastSeen: T0, latestReadings: { t: { value: 1, timestamp: iso(T0) } } };
    expect(registry.current('ws', 'a')).toMatchObject(before);
    expect(registry.get('ws', 'a')).toMatchObject(before);
    // Still watched: its sweep, due 25 s after it was last heard, still comes.
    jest.advanceTimersByTime(25_000);
    expect(registry.get('ws', 'a')?.status).toBe('offline');
  });

  it('comes back from a crash as the log has it: stored rows, then the events after their position', async () => {
    const storedA: Device = {
      deviceType: 'ws',
      deviceId: 'a',
      status: 'online',
      firstSeen: T0 - 60_000,
      lastSeen: T0 - 60_000,
      batteryLevel: null,
      firmwareVersion: null,
      latestReadings: {},
    };
    const unprojected: DeviceEvent[] = [
      { id: '1', ...status('ws', 'a', 'maintenance', 'online') },
      { id: '2', ...data('b', { t: 7 }) },
    ];
    ({ registry } = await makeRegistry([storedA], undefined, unprojected));
    expect(registry.get('ws', 'a')).toMatchObject({ status: 'maintenance', firstSeen: T0 - 60_000 });
    expect(registry.get('ws', 'b')).toMatchObject({ status: 'online', latestReadings: { t: { value: 7 } } });
  });

  it('never marks a provisioning device offline for its silence: it is waited for', async () => {
    let published: NewEvent[][];
    let ingest: (...events: NewEvent[]) => Promise<unknown>;
    ({ registry, published, ingest } = await makeRegistry());
    await ingest(status('ws', 'new', 'provisioning'), status('ws', 'up', 'online'));
    published.length = 0;
    jest.advanceTimersByTime(60_000);
    expect(registry.get('ws', 'new')?.status).toBe('provisioning');
    expect(registry.get('ws', 'up')?.status).toBe('offline');
    expect(published.flat().map((e) => e.device_id)).toEqual(['up']);
  });

  it('comes back with readings named like Object.prototype members after a restart (issue #18)', async () => {
    const stored = JSON.parse(
      '[{"deviceType":"ws","deviceId":"a","status":"online","firstSeen":0,"lastSeen":0,"batteryLevel":null,' +
        '"firmwareVersion":null,"latestReadings":{"__proto__":{"value":1,"timestamp":"2025-01-15T11:00:00.000Z"}}}]',
    ) as Device[];
    let commit: (...events: NewEvent[]) => DeviceEvent[];
    ({ registry, commit } = await makeRegistry(stored));
    commit(dataEvent({ ...from('a'), timestamp: '2025-01-15T12:00:00.000Z' }, { constructor: 9 }));
    expect(Object.keys(registry.get('ws', 'a')?.latestReadings ?? {})).toEqual(['__proto__', 'constructor']);
    expect(registry.get('ws', 'a')?.latestReadings.constructor).toEqual({
      value: 9,
      timestamp: '2025-01-15T12:00:00.000Z',
    });
  });

  it('marks a device offline after 2.5 heartbeats of silence, with one status event', async () => {
    let published: NewEvent[][];
    let ingest: (...events: NewEvent[]) => Promise<unknown>;
    ({ registry, published, ingest } = await makeRegistry());
    await ingest(status('ws', 'a', 'online'));
    published.length = 0;
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
    let ingest: (...events: NewEvent[]) => Promise<unknown>;
    ({ registry, published, ingest } = await makeRegistry());
    await ingest(status('ws', 'a', 'online'));
    for (let i = 0; i < 10; i++) {
      jest.advanceTimersByTime(20_000);
      await ingest(data('a', { t: i }));
    }
    expect(published.flat().filter((e) => e.event === 'status')).toHaveLength(1);
    published.length = 0;
    jest.advanceTimersByTime(25_000);
    expect(published.flat().map((e) => e.data.new_status)).toEqual(['offline']);
  });

  it('uses each type its own heartbeat and publishes devices due together in one call', async () => {
    let published: NewEvent[][];
    let ingest: (...events: NewEvent[]) => Promise<unknown>;
    ({ registry, published, ingest } = await makeRegistry());
    await ingest(
      status('ws', 'slow', 'online'),
      status('cam', 'c1', 'error'),
      status('cam', 'c2', 'maintenance'),
      status('other', 'x', 'online'),
    );
    published.length = 0;
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
    let ingest: (...events: NewEvent[]) => Promise<unknown>;
    ({ registry, published, ingest } = await makeRegistry());
    await ingest(status('ws', 'a', 'online'), status('ws', 'a', 'offline'));
    published.length = 0;
    jest.advanceTimersByTime(60_000);
    expect(published).toEqual([]);
    // Heard again: ingestion's activity status and its data.
    await ingest(status('ws', 'a', 'online', 'offline'), data('a', { t: 1 }));
    published.length = 0;
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
    expect(registry.current('ws', 'gone')?.status).toBe('offline');
    jest.advanceTimersByTime(MIN_SWEEP_GAP_MS);
    expect(published.flat().map((e) => e.device_id)).toEqual(['stale']);
    jest.advanceTimersByTime(24_000 - MIN_SWEEP_GAP_MS);
    expect(published.flat().map((e) => e.device_id)).toEqual(['stale', 'recent']);
  });

  it('learns devices and statuses from events other instances committed', async () => {
    let commit: (...events: NewEvent[]) => DeviceEvent[];
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
    let commit: (...events: NewEvent[]) => DeviceEvent[];
    ({ registry, published, lease, commit } = await makeRegistry());
    lease.isLeader = false;
    commit(status('ws', 'a', 'online'), status('ws', 'b', 'online'));
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

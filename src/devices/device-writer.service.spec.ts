import { Subject } from 'rxjs';
import type { DeviceEvent } from '../bus/device-event';
import type { EventBusService } from '../bus/event-bus.service';
import type { Device } from './device.entity';
import type { DeviceRegistryService } from './device-registry.service';
import type { AppConfig } from '../config/app-config';
import { DeviceWriterService } from './device-writer.service';
import type { ClusterLeaseService } from '../cluster/cluster-lease.service';
import type { Samples } from './device-rows';
import type { DevicesRepository, ProjectionStep } from './devices.repository';
import { ProjectionMovedError } from './devices.repository';
import { RefusedWrite } from '../database/write-errors';

/** READINGS_BATCH_LIMIT and READINGS_QUEUE_LIMIT at their defaults. */
const MAX_READINGS_PER_WRITE = 20_000;
const MAX_PENDING_READINGS = 200_000;
const config = { readings: { batchLimit: MAX_READINGS_PER_WRITE, queueLimit: MAX_PENDING_READINGS } } as AppConfig;
const T = '2025-01-15T12:00:00.000Z';
const T_MS = Date.parse(T);

function device(deviceId: string): Device {
  return {
    deviceType: 'ws',
    deviceId,
    status: 'online',
    firstSeen: 1,
    lastSeen: 2,
    batteryLevel: null,
    firmwareVersion: null,
    latestReadings: {},
  };
}

let nextId = 1;
/** A committed event, as the bus's feed hands it on. */
function event(name: string, deviceId: string, data: Record<string, unknown>): DeviceEvent {
  return {
    id: String(nextId++),
    event: name,
    device_type: 'ws',
    device_id: deviceId,
    data,
    timestamp: T,
    received_at: T,
  };
}

interface Options {
  /** Where the stored projection stands at start. */
  position?: number;
  /** Events in the log after it (what a crash left unprojected). */
  logged?: DeviceEvent[];
  leading?: boolean;
}

async function setup(options: Options = {}) {
  const committed = new Subject<readonly DeviceEvent[]>();
  const devices = new Map(['a', 'b'].map((id) => [id, device(id)]));
  /** Each stored write's devices, samples, the readings rows those make (name and value), and its step. */
  const writes: {
    devices: Device[];
    samples: Samples[];
    readings: { name: string; value: unknown }[];
    step?: ProjectionStep;
  }[] = [];
  /** Every attempt's step, the failed ones included. */
  const attempts: (ProjectionStep | undefined)[] = [];
  let gate: Promise<void> | undefined;
  let failures = 0;
  let lostAnswers = 0;
  const stored = { position: options.position ?? 0 };
  const repo = {
    projected: jest.fn(() => Promise.resolve(stored.position)),
    write: jest.fn(async (ds: Device[], samples: Samples[], step?: ProjectionStep) => {
      attempts.push(step);
      if (gate) await gate;
      if (failures > 0) {
        failures--;
        throw new Error('database unreachable');
      }
      if (step && step.after !== stored.position) throw new ProjectionMovedError(step);
      // A value the database refuses whatever the retry (a constraint, a type).
      if (samples.some((sample) => sample.data.poison !== undefined)) throw new RefusedWrite('value out of range');
      const readings = samples.flatMap((sample) =>
        Object.entries(sample.data)
          .filter(([, value]) => value !== undefined)
          .map(([name, value]) => ({ name, value })),
      );
      writes.push({ devices: ds, samples, readings, step });
      if (step) stored.position = step.upTo;
      if (lostAnswers > 0) {
        lostAnswers--;
        throw new Error('the SQLite writer thread exited with code 1');
      }
    }),
  };
  let following: (() => void) | undefined;
  const followed = new Promise<void>((resolve) => (following = resolve));
  const bus = {
    drain: jest.fn(() => Promise.resolve()),
    follow: jest.fn((after: number, next: (batch: readonly DeviceEvent[]) => void) => {
      const replay = (options.logged ?? []).filter((e) => Number(e.id) > after);
      if (replay.length > 0) next(replay);
      const live = committed.subscribe(next);
      following?.();
      return { caughtUp: Promise.resolve(), stop: () => live.unsubscribe() };
    }),
  };
  const registry = { get: (_type: string, id: string) => devices.get(id) };
  const lease = { onLeadership: (listener: (leading: boolean) => void) => listener(options.leading ?? true) };
  const writer = new DeviceWriterService(
    bus as unknown as EventBusService,
    registry as unknown as DeviceRegistryService,
    repo as unknown as DevicesRepository,
    lease as unknown as ClusterLeaseService,
    config,
  );
  writer.onApplicationBootstrap();
  if (options.leading ?? true) await followed;
  let open: () => void = () => undefined;
  return {
    writer,
    writes,
    attempts,
    repo,
    bus,
    devices,
    stored,
    commit: (batch: DeviceEvent[]) => committed.next(batch),
    /** One turn of the event loop: a write starts with the batches committed before it. */
    turn: () => new Promise<void>((resolve) => setImmediate(resolve)),
    hold: (): void => {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release: () => {
      gate = undefined;
      open();
    },
    fail: (n: number) => (failures = n),
    loseAnswers: (n: number) => (lostAnswers = n),
  };
}

describe('DeviceWriterService', () => {
  it("writes a committed batch in one call: the devices it touched and each data event's samples", async () => {
    const s = await setup();
    s.commit([
      event('data', 'a', { temperature: 21.5, door: 'open', ok: true }),
      event('data', 'a', { temperature: 22 }),
      event('data', 'a', { nothing: undefined }),
      event('status', 'b', { old_status: 'online', new_status: 'maintenance' }),
    ]);
    await s.writer.flush();
    expect(s.repo.write).toHaveBeenCalledTimes(1);
    expect(s.writes[0].devices.map((d) => d.deviceId)).toEqual(['a', 'b']);
    expect(s.writes[0].samples).toEqual([
      { deviceType: 'ws', deviceId: 'a', ts: T_MS, data: { temperature: 21.5, door: 'open', ok: true } },
      { deviceType: 'ws', deviceId: 'a', ts: T_MS, data: { temperature: 22 } },
    ]);
    expect(s.writer.stats.readings).toBe(4);
  });

  it('splits a backlog into writes of about MAX_READINGS_PER_WRITE readings, whole events each, in order', async () => {
    const s = await setup();
    s.hold();
    s.commit([event('data', 'a', { t: -1 })]);
    await s.turn();
    const perEvent = 7;
    const events = Math.ceil((2.5 * MAX_READINGS_PER_WRITE) / perEvent);
    for (let i = 0; i < events; i++)
      s.commit([event('data', 'a', Object.fromEntries(Array.from({ length: perEvent }, (_, r) => [`r${r}`, i])))]);
    s.release();
    await s.writer.flush();
    const sizes = s.writes.map((w) => w.readings.length);
    expect(sizes.length).toBe(4);
    expect(sizes.slice(1, 3).every((n) => n >= MAX_READINGS_PER_WRITE && n < MAX_READINGS_PER_WRITE + perEvent)).toBe(
      true,
    );
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1 + events * perEvent);
    const order = s.writes.flatMap((w) => w.samples.map((sample) => sample.data.r0 ?? sample.data.t));
    expect(order).toEqual([-1, ...Array.from({ length: events }, (_, i) => i)]);
  });

  it('writes a copy of the device taken when the write starts; later changes go in the next write', async () => {
    const s = await setup();
    s.hold();
    s.devices.get('a')!.status = 'error';
    s.commit([event('status', 'a', {})]);
    await s.turn();
    s.devices.get('a')!.latestReadings.t = { value: 1, timestamp: T };
    s.commit([event('data', 'a', { t: 1 })]);
    s.release();
    await s.writer.flush();
    expect(s.writes.map((w) => w.devices[0].latestReadings)).toEqual([{}, { t: { value: 1, timestamp: T } }]);
    expect(s.writes[0].devices[0]).toMatchObject({ deviceId: 'a', status: 'error' });
    expect(s.writes[1].devices[0]).not.toBe(s.devices.get('a'));
  });

  it("writes a device once per write, in the registry's newest state of it", async () => {
    const s = await setup();
    s.hold();
    s.commit([event('status', 'a', {})]);
    await s.turn();
    // The registry replaces a device's state with every event; the writer keeps the newest.
    s.devices.set('a', { ...device('a'), status: 'error' });
    s.commit([event('status', 'a', {})]);
    s.devices.set('a', { ...device('a'), status: 'maintenance' });
    s.commit([event('status', 'a', {})]);
    s.release();
    await s.writer.flush();
    expect(s.writes.map((w) => w.devices.map((d) => d.status))).toEqual([['online'], ['maintenance']]);
  });

  it('carries every batch committed during a write in the next single write', async () => {
    const s = await setup();
    s.hold();
    s.commit([event('data', 'a', { t: 1 })]);
    await s.turn();
    for (let i = 0; i < 20; i++) s.commit([event('data', i % 2 ? 'a' : 'b', { t: i })]);
    s.release();
    await s.writer.flush();
    expect(s.repo.write).toHaveBeenCalledTimes(2);
    expect(s.writes.map((w) => w.readings.length)).toEqual([1, 20]);
    expect(s.writes[1].devices.map((d) => d.deviceId).sort()).toEqual(['a', 'b']);
  });

  it('starts a write once the event loop is done with the batch: the batches committed meanwhile go with it', async () => {
    const s = await setup();
    s.commit([event('data', 'a', { t: 1 })]);
    s.commit([event('data', 'b', { t: 2 })]);
    expect(s.repo.write).not.toHaveBeenCalled();
    await s.writer.flush();
    expect(s.writes.map((w) => w.readings.map((r) => r.value))).toEqual([[1, 2]]);
  });

  it('ignores events that are not a registered device speaking', async () => {
    const s = await setup();
    s.commit([
      event('command', 'a', { request_id: 'r', command: 'x', payload: {} }),
      event('alert', 'a', {}),
      event('data', 'stranger', { t: 1 }),
    ]);
    await s.writer.flush();
    expect(s.repo.write).not.toHaveBeenCalled();
  });

  it('retries a failed write from where the stored projection stands, then writes what came meanwhile, in order', async () => {
    jest.useFakeTimers();
    try {
      const s = await setup();
      s.fail(2);
      const [one] = [event('data', 'a', { t: 1 })];
      const [two] = [event('data', 'a', { t: 2 })];
      s.commit([one]);
      await jest.advanceTimersByTimeAsync(0);
      s.commit([two]);
      await jest.advanceTimersByTimeAsync(1000);
      await s.writer.flush();
      expect(s.repo.write).toHaveBeenCalledTimes(4);
      expect(s.writes.map((w) => w.readings.map((r) => r.value))).toEqual([[1], [2]]);
      expect(s.attempts).toEqual([
        { after: 0, upTo: Number(one.id) },
        { after: 0, upTo: Number(one.id) },
        { after: 0, upTo: Number(one.id) },
        { after: Number(one.id), upTo: Number(two.id) },
      ]);
      // Retries asked the database where the projection stands; the first attempt and the next write did not.
      expect(s.repo.projected).toHaveBeenCalledTimes(1 + 2);
      expect(s.writer.stats).toMatchObject({ writes: 2, readings: 2, writeErrors: 2 });
    } finally {
      jest.useRealTimers();
    }
  });

  it('stores a write once when its commit went through and only the answer was lost (issue #11)', async () => {
    jest.useFakeTimers();
    try {
      const s = await setup();
      s.loseAnswers(1);
      s.commit([event('data', 'a', { t: 1 }), event('data', 'b', { t: 2 })]);
      await jest.advanceTimersByTimeAsync(1000);
      s.commit([event('data', 'a', { t: 3 })]);
      await jest.advanceTimersByTimeAsync(0);
      await s.writer.flush();
      expect(s.writes.flatMap((w) => w.readings.map((r) => r.value))).toEqual([1, 2, 3]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('goes on from the stored position: what a crash left unprojected is written first, nothing before it', async () => {
    const logged = [event('data', 'a', { t: 1 }), event('data', 'a', { t: 2 }), event('data', 'b', { t: 3 })];
    const s = await setup({ position: Number(logged[0].id), logged });
    s.commit([event('data', 'a', { t: 4 })]);
    await s.writer.flush();
    expect(s.bus.follow).toHaveBeenCalledWith(Number(logged[0].id), expect.any(Function));
    expect(s.writes.flatMap((w) => w.readings.map((r) => r.value))).toEqual([2, 3, 4]);
  });

  it('stores only what is left when another projector moved the position meanwhile (a change of leader)', async () => {
    jest.useFakeTimers();
    try {
      const s = await setup();
      const batch = [event('data', 'a', { t: 1 }), event('data', 'a', { t: 2 }), event('data', 'a', { t: 3 })];
      // The previous leader stored the first two before it stepped back.
      s.stored.position = Number(batch[1].id);
      s.commit(batch);
      await jest.advanceTimersByTimeAsync(1000);
      await s.writer.flush();
      expect(s.writes.flatMap((w) => w.readings.map((r) => r.value))).toEqual([3]);
      expect(s.stored.position).toBe(Number(batch[2].id));
    } finally {
      jest.useRealTimers();
    }
  });

  it('leaves out only the readings the database refuses for their data, and stores the rest in order (issue #11)', async () => {
    const s = await setup();
    const batch = [1, 2, 3, 4, 5].map((t) => event('data', 'a', t === 4 ? { t, poison: 1 } : { t }));
    s.commit(batch);
    s.commit([event('data', 'b', { t: 6 })]);
    await s.writer.flush();
    expect(s.writes.flatMap((w) => w.readings.map((r) => r.value))).toEqual([1, 2, 3, 5, 6]);
    // The device row of the refused event is still written, and the position passes it.
    expect(s.stored.position).toBe(Number(batch[4].id) + 1);
    expect(s.writer.stats.refused).toBe(1);
  });

  it('projects nothing while another instance leads the cluster', async () => {
    const s = await setup({ leading: false });
    s.commit([event('data', 'a', { t: 1 })]);
    await s.writer.flush();
    expect(s.bus.follow).not.toHaveBeenCalled();
    expect(s.repo.write).not.toHaveBeenCalled();
  });

  it('on shutdown waits for the bus to drain, then for its own writes', async () => {
    const s = await setup();
    const order: string[] = [];
    s.bus.drain.mockImplementation(() => {
      order.push('drain');
      // The bus's last batch arrives while it drains.
      s.commit([event('data', 'b', { t: 9 })]);
      return Promise.resolve();
    });
    s.hold();
    const closing = s.writer.beforeApplicationShutdown().then(() => order.push('closed'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['drain']);
    s.release();
    await closing;
    expect(order).toEqual(['drain', 'closed']);
    expect(s.writes.flatMap((w) => w.readings.map((r) => r.value))).toEqual([9]);
  });

  it('has no room while too many readings wait for the database, and says so when they are written', async () => {
    const s = await setup();
    s.hold();
    s.commit([event('data', 'a', { t: 0 })]);
    const values = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`r${i}`, i]));
    for (let i = 0; i < MAX_PENDING_READINGS / 100; i++) s.commit([event('data', 'a', values)]);
    expect(s.writer.hasRoom()).toBe(false);
    let roomy = false;
    const room = s.writer.room().then(() => (roomy = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(roomy).toBe(false);
    s.release();
    await room;
    expect(s.writer.hasRoom()).toBe(true);
    await s.writer.flush();
    expect(s.writes.reduce((n, w) => n + w.readings.length, 0)).toBe(MAX_PENDING_READINGS + 1);
  });
});

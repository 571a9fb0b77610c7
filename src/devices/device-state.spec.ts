import type { Device } from './device.entity';
import { commandEvent, commandResponseEvent, dataEvent, statusEvent } from './device-events';
import type { Origin } from './device-events';
import { HEARTBEAT_TIMEOUT, isLater, reduceDevice, reduceDeviceInPlace } from './device-state';
import type { StateEvent } from './device-state';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const at = (ms: number): Origin => {
  const iso = new Date(ms).toISOString();
  return { deviceType: 'ws', deviceId: 'a', timestamp: iso, receivedAt: iso };
};
const fold = (events: StateEvent[], from?: Device): Device | undefined =>
  events.reduce<Device | undefined>(reduceDevice, from);

describe('reduceDevice', () => {
  it('makes a device known, online, on its first event, and moves last seen with every event it sends', () => {
    const device = fold([dataEvent(at(T0), { t: 1 }), commandResponseEvent(at(T0 + 5000), 'r', { result: 1 })]);
    expect(device).toEqual({
      deviceType: 'ws',
      deviceId: 'a',
      status: 'online',
      firstSeen: T0,
      lastSeen: T0 + 5000,
      batteryLevel: null,
      firmwareVersion: null,
      latestReadings: { t: { value: 1, timestamp: new Date(T0).toISOString() } },
    });
  });

  it('takes status, battery and firmware from status events, and keeps them when a later status lacks them', () => {
    const device = fold([
      statusEvent(at(T0), null, 'online', { battery_level: 85.5, firmware_version: '2.1.0' }),
      statusEvent(at(T0 + 1), 'online', 'low_battery'),
    ]);
    expect(device).toMatchObject({ status: 'low_battery', batteryLevel: 85.5, firmwareVersion: '2.1.0' });
  });

  it('keeps the newest sample of each reading: a late batch does not replace a newer value', () => {
    const device = fold([
      dataEvent({ ...at(T0), timestamp: '2025-01-15T11:00:00.000Z' }, { temperature: 20, humidity: 50 }),
      dataEvent({ ...at(T0), timestamp: '2025-01-15T11:01:00.000Z' }, { temperature: 21 }),
      dataEvent({ ...at(T0 + 1), timestamp: '2025-01-15T10:00:00.000Z' }, { temperature: 5, pressure: 1013 }),
    ]);
    expect(device?.latestReadings).toEqual({
      temperature: { value: 21, timestamp: '2025-01-15T11:01:00.000Z' },
      humidity: { value: 50, timestamp: '2025-01-15T11:00:00.000Z' },
      pressure: { value: 1013, timestamp: '2025-01-15T10:00:00.000Z' },
    });
  });

  it("does not count a sweep's status as the device being heard", () => {
    const heard = fold([dataEvent(at(T0), { t: 1 })]);
    const swept = reduceDevice(heard, statusEvent(at(T0 + 30_000), 'online', 'offline', { reason: HEARTBEAT_TIMEOUT }));
    expect(swept).toMatchObject({ status: 'offline', lastSeen: T0 });
    // A data event does not change the status: an offline device comes back with an `activity` status first.
    expect(reduceDevice(swept, dataEvent(at(T0 + 40_000), { t: 2 }))).toMatchObject({
      status: 'offline',
      lastSeen: T0 + 40_000,
    });
  });

  it('never changes the state it is given, and ignores events that are not about device state', () => {
    const device = fold([dataEvent(at(T0), { t: 1 })]) as Device;
    const frozen = JSON.stringify(device);
    const next = reduceDevice(device, dataEvent(at(T0 + 1), { t: 2, u: 3 }));
    reduceDevice(device, statusEvent(at(T0 + 2), 'online', 'error', { battery_level: 1 }));
    expect(JSON.stringify(device)).toBe(frozen);
    expect(next?.latestReadings.t.value).toBe(2);
    expect(reduceDevice(device, commandEvent(at(T0 + 3), 'r', 'reboot', {}))).toBe(device);
    expect(reduceDevice(undefined, { ...dataEvent(at(T0), {}), event: 'alert' })).toBeUndefined();
  });

  it('folds into its own answer in place to the same state, leaving the device it copied alone', () => {
    const events = [
      dataEvent(at(T0 + 1), { t: 2 }),
      statusEvent(at(T0 + 2), 'online', 'low_battery', { battery_level: 9 }),
      dataEvent({ ...at(T0 + 3), timestamp: new Date(T0).toISOString() }, { t: 0, u: 1 }),
      commandEvent(at(T0 + 4), 'r', 'reboot', {}),
    ];
    const device = fold([dataEvent(at(T0), { t: 1 })]) as Device;
    const frozen = JSON.stringify(device);
    const draft = reduceDevice(device, events[0]) as Device;
    expect(events.slice(1).map((e) => reduceDeviceInPlace(draft, e))).toEqual([true, true, false]);
    expect(draft).toEqual(fold(events, device));
    expect(draft.latestReadings.t.value).toBe(2);
    expect(JSON.stringify(device)).toBe(frozen);
  });

  it('keeps readings named like Object.prototype members (issue #18)', () => {
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
    const values = JSON.parse(`{${names.map((n, i) => `"${n}": ${i}`).join(', ')}}`) as Record<string, unknown>;
    const device = fold([
      dataEvent({ ...at(T0), timestamp: '2025-01-15T11:00:00.000Z' }, values),
      dataEvent({ ...at(T0), timestamp: '2025-01-15T10:00:00.000Z' }, values),
    ]);
    expect(Object.keys(device?.latestReadings ?? {})).toEqual(names);
    expect(JSON.parse(JSON.stringify(device?.latestReadings))).toEqual(
      JSON.parse(
        `{${names.map((n, i) => `"${n}": {"value": ${i}, "timestamp": "2025-01-15T11:00:00.000Z"}`).join(', ')}}`,
      ),
    );
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

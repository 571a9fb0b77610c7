import type { NewEvent } from '../bus/device-event';
import { isoMs } from '../common/iso-time';
import { nameMap, toNameMap } from '../common/name-map';
import type { Device } from './device.entity';
import { ONLINE } from './device-events';

/** The reason a sweep gives in the status events it emits (DeviceRegistryService.sweep). */
export const HEARTBEAT_TIMEOUT = 'heartbeat_timeout';

/** The fields of an event that device state is made of; positioned or not, from this instance or another. */
export type StateEvent = Pick<NewEvent, 'event' | 'device_type' | 'device_id' | 'data' | 'timestamp' | 'received_at'>;

/**
 * A device's state after one more event: the one place device state is
 * derived (issue #14, item 3). Pure: `device` is never changed, the answer
 * is a new object with readings of its own, or `device` itself for events
 * that are not about its state (`command`, a broadcast's custom name).
 *
 * - Any `data`, `status` or `command_response` event makes the device known
 *   (`online` until a status says otherwise) and moves `lastSeen` to its
 *   `received_at`, except a sweep's status: that is the service speaking.
 * - A `status` event sets the status, and battery and firmware when it has them.
 * - A `data` event keeps the newest sample of each reading (a late batch's
 *   older sample does not replace a newer one).
 *
 * An offline device that speaks again comes back online through the
 * `status` event (reason `activity`) ingestion puts before its data, so the
 * status only ever changes with a status event.
 */
export function reduceDevice(device: Readonly<Device> | undefined, event: StateEvent): Device | undefined {
  if (!aboutState(event)) return device;
  let next: Device;
  if (device === undefined) {
    const at = isoMs(event.received_at);
    next = {
      deviceType: event.device_type,
      deviceId: event.device_id,
      status: ONLINE,
      firstSeen: at,
      lastSeen: at,
      batteryLevel: null,
      firmwareVersion: null,
      latestReadings: nameMap(),
    };
  } else next = { ...device, latestReadings: toNameMap(device.latestReadings) };
  step(next, event);
  return next;
}

/**
 * The same step as `reduceDevice`, made on `draft` itself: a device an
 * earlier `reduceDevice` answered that nobody else holds yet (the registry's
 * state within one batch of events). Folding a run of events into one copy
 * costs one copy of the device and its readings per run rather than per
 * event, which in the ingest benchmark was the largest cost issue #14 added
 * (BENCHMARKS.md, "#14 before/after"). Answers whether the event was about
 * the device's state.
 */
export function reduceDeviceInPlace(draft: Device, event: StateEvent): boolean {
  if (!aboutState(event)) return false;
  step(draft, event);
  return true;
}

function aboutState(event: StateEvent): boolean {
  switch (event.event) {
    case 'data':
    case 'status':
    case 'command_response':
      return true;
    default:
      return false;
  }
}

/** One event's change to a device whose readings map is its own. */
function step(device: Device, event: StateEvent): void {
  const { data } = event;
  // A sweep's status is the service speaking, not the device: it does not make the device seen.
  if (!(event.event === 'status' && data.reason === HEARTBEAT_TIMEOUT))
    device.lastSeen = Math.max(device.lastSeen, isoMs(event.received_at));
  if (event.event === 'status') {
    if (typeof data.new_status === 'string') device.status = data.new_status;
    if (typeof data.battery_level === 'number') device.batteryLevel = data.battery_level;
    if (typeof data.firmware_version === 'string') device.firmwareVersion = data.firmware_version;
  } else if (event.event === 'data') {
    keepLatest(device.latestReadings, data, event.timestamp);
  }
}

/** Takes `values` into the readings where they are not older than what is kept. */
function keepLatest(readings: Device['latestReadings'], values: Record<string, unknown>, timestamp: string): void {
  for (const name in values) {
    const previous = readings[name];
    if (previous !== undefined && isLater(previous.timestamp, timestamp)) continue;
    readings[name] = { value: values[name], timestamp };
  }
}

/** Whether ISO 8601 time `a` is after `b`; `toISOString()`'s own form compares as text, without parsing. */
export function isLater(a: string, b: string): boolean {
  if (a === b) return false;
  if (a.length === 24 && b.length === 24 && a.endsWith('Z') && b.endsWith('Z')) return a > b;
  return Date.parse(a) > Date.parse(b);
}

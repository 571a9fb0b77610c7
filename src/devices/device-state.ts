import type { NewEvent } from '../bus/device-event';
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
 * is a new object (sharing `latestReadings` when the event leaves them
 * alone), or `device` itself for events that are not about its state
 * (`command`, a broadcast's custom name).
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
  const { data } = event;
  switch (event.event) {
    case 'data':
    case 'status':
    case 'command_response':
      break;
    default:
      return device;
  }
  const at = Date.parse(event.received_at);
  const spoke = !(event.event === 'status' && data.reason === HEARTBEAT_TIMEOUT);
  const next: Device =
    device === undefined
      ? {
          deviceType: event.device_type,
          deviceId: event.device_id,
          status: ONLINE,
          firstSeen: at,
          lastSeen: at,
          batteryLevel: null,
          firmwareVersion: null,
          latestReadings: nameMap(),
        }
      : { ...device, lastSeen: spoke ? Math.max(device.lastSeen, at) : device.lastSeen };
  if (event.event === 'status') {
    if (typeof data.new_status === 'string') next.status = data.new_status;
    if (typeof data.battery_level === 'number') next.batteryLevel = data.battery_level;
    if (typeof data.firmware_version === 'string') next.firmwareVersion = data.firmware_version;
  } else if (event.event === 'data') {
    next.latestReadings = withLatest(next.latestReadings, data, event.timestamp);
  }
  return next;
}

/** The readings with `values` taken in where they are not older than what is kept; copied only when one changes. */
function withLatest(readings: Device['latestReadings'], values: Record<string, unknown>, timestamp: string) {
  let changed: Device['latestReadings'] | undefined;
  for (const name in values) {
    const previous = readings[name];
    if (previous !== undefined && isLater(previous.timestamp, timestamp)) continue;
    changed ??= toNameMap(readings);
    changed[name] = { value: values[name], timestamp };
  }
  return changed ?? readings;
}

/** Whether ISO 8601 time `a` is after `b`; `toISOString()`'s own form compares as text, without parsing. */
export function isLater(a: string, b: string): boolean {
  if (a === b) return false;
  if (a.length === 24 && b.length === 24 && a.endsWith('Z') && b.endsWith('Z')) return a > b;
  return Date.parse(a) > Date.parse(b);
}

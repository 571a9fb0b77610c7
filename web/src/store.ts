import type { DeviceEvent, DeviceView } from './types';

/** One row of the device table. */
export interface DeviceState {
  key: string;
  type: string;
  id: string;
  status: string;
  /** ms since the epoch; 0 when not known yet. */
  lastSeen: number;
  battery: number | null;
  firmware: string | null;
  readings: Record<string, { value: unknown; timestamp: string }>;
}

/** Events a device itself causes. */
const DEVICE_EVENTS = new Set(['data', 'status', 'command_response']);

export const deviceKey = (type: string, id: string): string => `${type}/${id}`;

/**
 * The registry as the page knows it: a REST snapshot (`GET /api/devices`)
 * kept current by the live events. Events that arrive before the snapshot
 * are held and applied after it, in order, so the table never goes back in time.
 */
export class DeviceStore {
  readonly devices = new Map<string, DeviceState>();
  private held: DeviceEvent[] | undefined = [];
  private readonly listeners: ((keys: Set<string>) => void)[] = [];

  /** Calls `listener` with the keys of the devices that changed; answers the way to stop. */
  onChange(listener: (keys: Set<string>) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  load(views: DeviceView[]): void {
    const changed = new Set<string>();
    for (const v of views) {
      const key = deviceKey(v.device_type, v.device_id);
      this.devices.set(key, {
        key,
        type: v.device_type,
        id: v.device_id,
        status: v.status,
        lastSeen: Date.parse(v.last_seen) || 0,
        battery: v.battery_level,
        firmware: v.firmware_version,
        readings: { ...v.latest_readings },
      });
      changed.add(key);
    }
    const held = this.held ?? [];
    this.held = undefined;
    for (const e of held) this.applyOne(e, changed);
    this.notify(changed);
  }

  apply(event: DeviceEvent): void {
    if (this.held) {
      this.held.push(event);
      return;
    }
    const changed = new Set<string>();
    this.applyOne(event, changed);
    this.notify(changed);
  }

  private applyOne(e: DeviceEvent, changed: Set<string>): void {
    const key = deviceKey(e.device_type, e.device_id);
    let d = this.devices.get(key);
    if (!d) {
      // Commands and broadcasts may name a device the registry does not know; only the device's own messages add a row.
      if (!DEVICE_EVENTS.has(e.event)) return;
      d = {
        key,
        type: e.device_type,
        id: e.device_id,
        status: 'online',
        lastSeen: 0,
        battery: null,
        firmware: null,
        readings: {},
      };
      this.devices.set(key, d);
    }
    const at = Date.parse(e.received_at ?? e.timestamp) || Date.now();
    const data = e.data;
    switch (e.event) {
      case 'data':
        for (const [name, value] of Object.entries(data)) {
          if (name === 'timestamp') continue;
          d.readings[name] = { value, timestamp: e.timestamp };
        }
        d.lastSeen = Math.max(d.lastSeen, at);
        break;
      case 'status': {
        if (typeof data.new_status === 'string') d.status = data.new_status;
        if (typeof data.battery_level === 'number') d.battery = data.battery_level;
        if (typeof data.firmware_version === 'string') d.firmware = data.firmware_version;
        // The offline sweep and last wills speak for a device that is silent: they do not make it "seen".
        if (d.status !== 'offline') d.lastSeen = Math.max(d.lastSeen, at);
        break;
      }
      case 'command_response':
        d.lastSeen = Math.max(d.lastSeen, at);
        break;
      default:
        break;
    }
    changed.add(key);
  }

  private notify(keys: Set<string>): void {
    if (keys.size === 0) return;
    for (const l of this.listeners) l(keys);
  }
}

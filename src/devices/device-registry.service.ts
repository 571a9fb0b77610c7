import type { OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable, Logger } from '@nestjs/common';
import type { DeviceEvent, NewEvent } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import type { Following } from '../bus/event-reader.service';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { DeviceTypes } from '../config/device-types';
import { toNameMap } from '../common/name-map';
import type { Device } from './device.entity';
import { OFFLINE, PROVISIONING, statusEvent } from './device-events';
import { HEARTBEAT_TIMEOUT, reduceDevice, reduceDeviceInPlace } from './device-state';
import { DevicesRepository } from './devices.repository';

export { HEARTBEAT_TIMEOUT, isLater } from './device-state';

/** Silence, in heartbeat intervals, after which a device is marked offline (bridge.md, "MQTT (devices)"). */
export const SILENT_HEARTBEATS = 2.5;
/** Sweeps at most this often, so that deadlines close together are handled in one pass. */
export const MIN_SWEEP_GAP_MS = 50;
/** How often an instance that does not lead the cluster checks whether it has become the leader. */
export const FOLLOWER_SWEEP_MS = 1000;

/** Devices of one type that may fall silent, least recently heard first. */
interface Watch {
  timeoutMs: number;
  /** Map iteration follows insertion order; a device is re-inserted whenever its state changes. */
  devices: Map<string, Readonly<Device>>;
}

/** A device's state with this instance's events that are on their way to the log applied. */
interface Projected {
  device: Readonly<Device>;
  /** Events of this device still on their way. */
  inFlight: number;
  /** `device` is a copy this entry made and never handed out (`current`): the next events change it in place. */
  own: boolean;
}

/** This instance's events that the log has answered for, waiting for the registry to hold their effect. */
interface Settling {
  events: readonly NewEvent[];
  /** The highest position the log gave them (0 when it took none). */
  through: number;
}

const keyOf = (deviceType: string, deviceId: string): string => `${deviceType}\u0000${deviceId}`;

/**
 * The device registry (issue #2, "Devices"): each device's status, last seen
 * time, battery, firmware and latest readings, derived by `reduceDevice` from
 * the events the log committed, in log order, whichever instance committed
 * them; loaded from the `devices` table at start-up and written back by
 * DeviceWriterService. Marks silent devices offline.
 *
 * Ingestion decides a message's events (an `old_status`, whether an offline
 * device needs an `activity` status) from `current()`: the committed state
 * with this instance's events not yet committed applied on top, so messages
 * are judged in message order. Those go when the log answers: what it took
 * is then in the committed state, and what it left out (a redelivered
 * `message_id`, issue #11) never changes the device.
 */
@Injectable()
export class DeviceRegistryService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DeviceRegistryService.name);
  private readonly devices = new Map<string, Readonly<Device>>();
  private readonly projected = new Map<string, Projected>();
  private readonly settling: Settling[] = [];
  private readonly watches = new Map<string, Watch>();
  private following: Following | undefined;
  private lastApplied = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = Number.POSITIVE_INFINITY;
  private running = false;

  constructor(
    private readonly repository: DevicesRepository,
    private readonly deviceTypes: DeviceTypes,
    private readonly bus: EventBusService,
    private readonly lease: ClusterLeaseService,
  ) {}

  /** Restart: the registry comes back as it was written. */
  async onModuleInit(): Promise<void> {
    const stored = await this.repository.loadDevices();
    stored.sort((a, b) => a.lastSeen - b.lastSeen);
    for (const device of stored) {
      device.latestReadings = toNameMap(device.latestReadings);
      this.devices.set(keyOf(device.deviceType, device.deviceId), device);
      this.settle(device.deviceType, device.deviceId, device);
    }
    // The stored rows are the log's events up to the devices projection's position (DeviceWriterService);
    // what came after it (a crash between a commit and its rows) is read from the log, then every batch live.
    const projected = await this.repository.projected();
    this.lastApplied = projected;
    this.following = this.bus.follow(projected, (batch) => this.apply(batch));
    await this.following.caughtUp;
  }

  /** Devices that fell silent while the service was down go offline at the first sweep. */
  onApplicationBootstrap(): void {
    this.running = true;
    this.scheduleSweep();
  }

  onModuleDestroy(): void {
    this.following?.stop();
    this.running = false;
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** The device as the log has it. */
  get(deviceType: string, deviceId: string): Readonly<Device> | undefined {
    return this.devices.get(keyOf(deviceType, deviceId));
  }

  /** The device with this instance's events still on their way to the log applied: what the next message is judged by. */
  current(deviceType: string, deviceId: string): Readonly<Device> | undefined {
    const key = keyOf(deviceType, deviceId);
    const entry = this.projected.get(key);
    if (entry === undefined) return this.devices.get(key);
    // Handed out, it must not change under its holder: the next event copies it.
    entry.own = false;
    return entry.device;
  }

  /** `current(…)?.status`, without handing the device out (ingestion asks for every message). */
  currentStatus(deviceType: string, deviceId: string): string | undefined {
    const key = keyOf(deviceType, deviceId);
    return (this.projected.get(key)?.device ?? this.devices.get(key))?.status;
  }

  /** Every device, in no particular order. */
  all(): IterableIterator<Readonly<Device>> {
    return this.devices.values();
  }

  get size(): number {
    return this.devices.size;
  }

  /**
   * Events this instance is about to publish (`events` from index `from`):
   * `current()` includes them from now on. Hand them to `track` with the
   * log's answer once they are queued.
   */
  project(events: readonly NewEvent[], from = 0): void {
    for (let i = from; i < events.length; i++) {
      const e = events[i];
      const key = keyOf(e.device_type, e.device_id);
      const entry = this.projected.get(key);
      if (entry !== undefined) {
        if (entry.own) reduceDeviceInPlace(entry.device, e);
        else {
          const device = reduceDevice(entry.device, e) as Device;
          entry.own = device !== entry.device;
          entry.device = device;
        }
        entry.inFlight++;
        this.settle(e.device_type, e.device_id, entry.device);
        continue;
      }
      const committed = this.devices.get(key);
      const device = reduceDevice(committed, e);
      if (device === undefined) continue;
      this.projected.set(key, { device, inFlight: 1, own: device !== committed });
      this.settle(e.device_type, e.device_id, device);
    }
  }

  /** The log's answer for projected events: the ones it took (positioned), the others were left out. */
  track(events: readonly NewEvent[], written: Promise<readonly DeviceEvent[]>): void {
    written.then(
      (taken) => {
        const through = taken.length > 0 ? Number(taken[taken.length - 1].id) : 0;
        this.settling.push({ events, through });
        this.release();
      },
      (err: unknown) => {
        this.logger.error(`Publishing device events failed: ${String(err)}`);
        this.settling.push({ events, through: 0 });
        this.release();
      },
    );
  }

  /** Committed batches, in log order: the one way the committed state changes. */
  private apply(batch: readonly DeviceEvent[]): void {
    // Devices this batch made: nobody outside holds them before it is applied, so its later events change them in place.
    const made = new Set<Readonly<Device>>();
    for (const e of batch) {
      const key = keyOf(e.device_type, e.device_id);
      const before = this.devices.get(key);
      let device: Readonly<Device> | undefined = before;
      if (before !== undefined && made.has(before)) {
        if (!reduceDeviceInPlace(before, e)) continue;
      } else {
        device = reduceDevice(before, e);
        if (device === undefined || device === before) continue;
        made.add(device);
        this.devices.set(key, device);
      }
      if (!this.projected.has(key)) this.settle(e.device_type, e.device_id, device);
    }
    if (batch.length > 0) this.lastApplied = Number(batch[batch.length - 1].id);
    this.release();
  }

  /** Drops the projections of answered events whose effect the committed state now holds, oldest first. */
  private release(): void {
    while (this.settling.length > 0 && this.settling[0].through <= this.lastApplied) {
      const { events } = this.settling.shift() as Settling;
      for (const e of events) {
        const key = keyOf(e.device_type, e.device_id);
        const entry = this.projected.get(key);
        if (entry === undefined || --entry.inFlight > 0) continue;
        this.projected.delete(key);
        this.settle(e.device_type, e.device_id, this.devices.get(key));
      }
    }
  }

  /** Offline and provisioning devices wait to be heard; the others are watched for silence. */
  private settle(deviceType: string, deviceId: string, device: Readonly<Device> | undefined): void {
    if (device !== undefined && awaitsSilence(device)) this.watch(device);
    else this.watches.get(deviceType)?.devices.delete(deviceId);
  }

  private watch(device: Readonly<Device>): void {
    let watch = this.watches.get(device.deviceType);
    if (watch === undefined) {
      watch = { timeoutMs: this.deviceTypes.heartbeatMs(device.deviceType) * SILENT_HEARTBEATS, devices: new Map() };
      this.watches.set(device.deviceType, watch);
    }
    watch.devices.delete(device.deviceId);
    watch.devices.set(device.deviceId, device);
    const deadline = device.lastSeen + watch.timeoutMs;
    if (this.running && deadline < this.sweepAt) this.setTimer(deadline);
  }

  /**
   * Marks every device silent for longer than its timeout offline, in one
   * publish. Only the cluster's leader sweeps; the others learn the new
   * statuses from its events.
   */
  sweep(now = Date.now()): void {
    if (!this.lease.isLeader) {
      this.setTimer(now + FOLLOWER_SWEEP_MS);
      return;
    }
    const events: NewEvent[] = [];
    const iso = new Date(now).toISOString();
    for (const watch of this.watches.values()) {
      for (const device of watch.devices.values()) {
        if (device.lastSeen + watch.timeoutMs > now) break;
        const origin = { deviceType: device.deviceType, deviceId: device.deviceId, timestamp: iso, receivedAt: iso };
        events.push(
          statusEvent(origin, device.status, OFFLINE, {
            reason: HEARTBEAT_TIMEOUT,
            last_seen: new Date(device.lastSeen).toISOString(),
          }),
        );
      }
    }
    if (events.length > 0) {
      // Projected, the swept devices are offline (and no longer watched) until the log answers.
      this.project(events);
      this.track(events, this.bus.publish(events));
    }
    this.scheduleSweep();
  }

  private scheduleSweep(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const watch of this.watches.values()) {
      const oldest = watch.devices.values().next();
      if (oldest.done !== true) next = Math.min(next, oldest.value.lastSeen + watch.timeoutMs);
    }
    this.setTimer(next);
  }

  private setTimer(at: number): void {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweepAt = at;
    if (!this.running || at === Number.POSITIVE_INFINITY) return;
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(at - Date.now(), MIN_SWEEP_GAP_MS));
    this.sweepTimer.unref();
  }
}

/**
 * Whether silence would make the device offline: not when it is offline
 * already, nor when it is provisioning, which a device minted credentials
 * for ahead of its installation may stay for weeks (issue #13).
 */
function awaitsSilence(device: Readonly<Device>): boolean {
  return device.status !== OFFLINE && device.status !== PROVISIONING;
}

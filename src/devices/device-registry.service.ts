import type { OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable, Logger } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { DeviceEvent, NewEvent } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { DeviceTypes } from '../config/device-types';
import type { Device } from './device.entity';
import { OFFLINE, ONLINE, PROVISIONING, statusEvent } from './device-events';
import { isoTime } from '../common/iso-time';
import { nameMap, toNameMap } from '../common/name-map';
import { DevicesRepository } from './devices.repository';
import type { IngestMessage } from './ingest-message';
import { isLocal, markLocal } from './local-events';

/** Silence, in heartbeat intervals, after which a device is marked offline (bridge.md, "MQTT (devices)"). */
export const SILENT_HEARTBEATS = 2.5;
/** Sweeps at most this often, so that deadlines close together are handled in one pass. */
export const MIN_SWEEP_GAP_MS = 50;
/** How often an instance that does not lead the cluster checks whether it has become the leader. */
export const FOLLOWER_SWEEP_MS = 1000;
/** The reason a sweep gives in the status events it emits. */
export const HEARTBEAT_TIMEOUT = 'heartbeat_timeout';

/** A device's status before and after one message. `before` is null for a device heard for the first time. */
export interface StatusChange {
  before: string | null;
  after: string;
}

/** Devices of one type that may fall silent, least recently heard first. */
interface Watch {
  timeoutMs: number;
  /** Map iteration follows insertion order; a device is re-inserted whenever it is heard. */
  devices: Map<string, Device>;
}

const keyOf = (deviceType: string, deviceId: string): string => `${deviceType}\u0000${deviceId}`;

/**
 * The device registry (issue #2, "Devices"): each device's status, last seen
 * time, battery, firmware and latest readings, kept in memory and updated in
 * message order; loaded from the `devices` table at start-up and written back
 * by DeviceWriterService. Marks silent devices offline.
 */
@Injectable()
export class DeviceRegistryService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DeviceRegistryService.name);
  private readonly devices = new Map<string, Device>();
  private readonly watches = new Map<string, Watch>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = Number.POSITIVE_INFINITY;
  private running = false;
  private subscription: Subscription | undefined;

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
      if (awaitsSilence(device)) this.watch(device);
    }
    this.subscription = this.bus.batches$.subscribe((batch) => {
      for (const event of batch) if (!isLocal(event)) this.apply(event);
    });
  }

  /** Devices that fell silent while the service was down go offline at the first sweep. */
  onApplicationBootstrap(): void {
    this.running = true;
    this.scheduleSweep();
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    this.running = false;
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  get(deviceType: string, deviceId: string): Readonly<Device> | undefined {
    return this.devices.get(keyOf(deviceType, deviceId));
  }

  /** Every device, in no particular order. */
  all(): IterableIterator<Readonly<Device>> {
    return this.devices.values();
  }

  get size(): number {
    return this.devices.size;
  }

  /**
   * Applies one device message; call in message order. A device heard for the
   * first time is registered. A status message sets the status; any other
   * message brings an offline device back online.
   */
  record(message: IngestMessage): StatusChange {
    const before = this.get(message.deviceType, message.deviceId)?.status ?? null;
    const device = this.heard(message.deviceType, message.deviceId, message.receivedAt);
    switch (message.kind) {
      case 'status':
        device.status = message.status;
        if (message.batteryLevel !== undefined) device.batteryLevel = message.batteryLevel;
        if (message.firmwareVersion !== undefined) device.firmwareVersion = message.firmwareVersion;
        break;
      case 'data': {
        if (device.status === OFFLINE) device.status = ONLINE;
        let receivedIso: string | undefined;
        for (const sample of message.samples) {
          const timestamp = sample.timestamp ?? (receivedIso ??= isoTime(message.receivedAt));
          this.keepLatest(device, sample.values, timestamp);
        }
        break;
      }
      case 'command_response':
        if (device.status === OFFLINE) device.status = ONLINE;
        break;
    }
    this.settle(device);
    return { before, after: device.status };
  }

  /**
   * Applies a committed device event this instance did not produce: one that
   * another instance ingested (REDIS_URL, issue #5) or a manual broadcast, so
   * that every instance knows every device and its status.
   */
  private apply(event: DeviceEvent): void {
    const { data } = event;
    if (event.event !== 'data' && event.event !== 'status' && event.event !== 'command_response') return;
    // A sweep's status is the service speaking, not the device: it does not make the device seen.
    const swept = event.event === 'status' && data.reason === HEARTBEAT_TIMEOUT;
    const device = this.heard(event.device_type, event.device_id, Date.parse(event.received_at), !swept);
    if (event.event === 'status') {
      if (typeof data.new_status === 'string') device.status = data.new_status;
      if (typeof data.battery_level === 'number') device.batteryLevel = data.battery_level;
      if (typeof data.firmware_version === 'string') device.firmwareVersion = data.firmware_version;
    } else if (event.event === 'data') {
      this.keepLatest(device, data, event.timestamp);
    }
    this.settle(device);
  }

  /** The device, registered if new; `lastSeen` moves to `at` when the device itself spoke. */
  private heard(deviceType: string, deviceId: string, at: number, spoke = true): Device {
    const key = keyOf(deviceType, deviceId);
    const known = this.devices.get(key);
    if (known !== undefined) {
      if (spoke) known.lastSeen = Math.max(known.lastSeen, at);
      return known;
    }
    const device: Device = {
      deviceType,
      deviceId,
      status: ONLINE,
      firstSeen: at,
      lastSeen: at,
      batteryLevel: null,
      firmwareVersion: null,
      latestReadings: nameMap(),
    };
    this.devices.set(key, device);
    return device;
  }

  private keepLatest(device: Device, values: Record<string, unknown>, timestamp: string): void {
    for (const name in values) {
      const previous = device.latestReadings[name];
      // A batch may carry older samples than one already seen; the latest stays.
      if (previous === undefined || !isLater(previous.timestamp, timestamp))
        device.latestReadings[name] = { value: values[name], timestamp };
    }
  }

  /** Offline and provisioning devices wait to be heard; the others are watched for silence. */
  private settle(device: Device): void {
    if (awaitsSilence(device)) this.watch(device);
    else this.unwatch(device);
  }

  private watch(device: Device): void {
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

  private unwatch(device: Device): void {
    this.watches.get(device.deviceType)?.devices.delete(device.deviceId);
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
        watch.devices.delete(device.deviceId);
        const origin = { deviceType: device.deviceType, deviceId: device.deviceId, timestamp: iso, receivedAt: iso };
        events.push(
          statusEvent(origin, device.status, OFFLINE, {
            reason: HEARTBEAT_TIMEOUT,
            last_seen: new Date(device.lastSeen).toISOString(),
          }),
        );
        device.status = OFFLINE;
      }
    }
    if (events.length > 0) {
      markLocal(events);
      this.bus
        .publish(events)
        .catch((err: unknown) => this.logger.error(`Publishing offline statuses failed: ${String(err)}`));
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
function awaitsSilence(device: Device): boolean {
  return device.status !== OFFLINE && device.status !== PROVISIONING;
}

/** Whether ISO 8601 time `a` is after `b`; `toISOString()`'s own form compares as text, without parsing. */
export function isLater(a: string, b: string): boolean {
  if (a === b) return false;
  if (a.length === 24 && b.length === 24 && a.endsWith('Z') && b.endsWith('Z')) return a > b;
  return Date.parse(a) > Date.parse(b);
}

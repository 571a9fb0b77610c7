import type { BeforeApplicationShutdown, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable, Logger } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { DeviceEvent } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import type { Device } from './device.entity';
import { DeviceRegistryService } from './device-registry.service';
import type { Samples } from './devices.repository';
import { DevicesRepository, readingCount } from './devices.repository';

/** Readings waiting for the database before ingestion is made to wait. */
export const MAX_PENDING_READINGS = 200_000;
/** Readings per transaction at most, so one write never holds the database for long. */
export const MAX_READINGS_PER_WRITE = 20_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

/** Events that come from a device and so change its registry row. */
const DEVICE_EVENTS = new Set(['data', 'status', 'command_response']);

/**
 * Persists the registry and readings from what this instance's devices
 * committed (`DeviceRegistryService.own$`): only what is in the event log is
 * written, and whatever piles up while one transaction runs goes into the
 * next (never one write per event).
 */
@Injectable()
export class DeviceWriterService implements OnModuleInit, BeforeApplicationShutdown, OnModuleDestroy {
  private readonly logger = new Logger(DeviceWriterService.name);
  private subscription: Subscription | undefined;
  /** Devices to write, by key: the registry's newest state of each (states are replaced, not changed). */
  private touched = new Map<string, Readonly<Device>>();
  /** Data events' samples not yet taken by a write, and how many readings rows they make. */
  private samples: Samples[] = [];
  private pendingReadings = 0;
  private writing: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private failing = false;
  /** Counters for health and metrics. */
  readonly stats = { writes: 0, readings: 0, writeErrors: 0 };

  constructor(
    private readonly bus: EventBusService,
    private readonly registry: DeviceRegistryService,
    private readonly repository: DevicesRepository,
  ) {}

  onModuleInit(): void {
    this.subscription = this.registry.own$.subscribe((batch) => this.take(batch));
  }

  /** The bus flushes its log first; what it committed last is then written here before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.bus.drain();
    await this.flush();
  }

  onModuleDestroy(): void {
    // Keep receiving batches until the bus completes; only release waiters that would otherwise hang.
    this.waiters.splice(0).forEach((wake) => wake());
  }

  /** True while ingestion may go on without waiting for the database. */
  hasRoom(): boolean {
    return this.pendingReadings < MAX_PENDING_READINGS;
  }

  /** Resolves once pending readings are below the bound again. */
  room(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once everything taken so far is in the database. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private take(batch: readonly DeviceEvent[]): void {
    for (const event of batch) {
      if (!DEVICE_EVENTS.has(event.event)) continue;
      const device = this.registry.get(event.device_type, event.device_id);
      if (device === undefined) continue;
      this.touched.set(`${device.deviceType}\u0000${device.deviceId}`, device);
      if (event.event === 'data') this.addReadings(event);
    }
    if (this.touched.size > 0) this.writing ??= this.writeLoop();
  }

  private addReadings(event: DeviceEvent): void {
    const count = readingCount(event.data);
    if (count === 0) return;
    // The event's own data, not a copy: events are not changed once published.
    this.samples.push({
      deviceType: event.device_type,
      deviceId: event.device_id,
      ts: Date.parse(event.timestamp),
      data: event.data,
    });
    this.pendingReadings += count;
  }

  /** The oldest samples, up to about MAX_READINGS_PER_WRITE readings (whole events), and their readings count. */
  private takeSamples(): { samples: Samples[]; readings: number } {
    if (this.pendingReadings <= MAX_READINGS_PER_WRITE) {
      const taken = { samples: this.samples, readings: this.pendingReadings };
      this.samples = [];
      this.pendingReadings = 0;
      return taken;
    }
    let readings = 0;
    let end = 0;
    while (end < this.samples.length && readings < MAX_READINGS_PER_WRITE)
      readings += readingCount(this.samples[end++].data);
    const samples = this.samples.slice(0, end);
    this.samples = this.samples.slice(end);
    this.pendingReadings -= readings;
    return { samples, readings };
  }

  private async writeLoop(): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (this.touched.size > 0 || this.samples.length > 0) {
      const touched = this.touched;
      this.touched = new Map();
      const { samples, readings } = this.takeSamples();
      // Copies: the registry keeps changing while the transaction runs.
      const rows = [...touched.values()].map((d) => ({ ...d, latestReadings: { ...d.latestReadings } }));
      try {
        await this.repository.write(rows, samples);
        this.stats.writes++;
        this.stats.readings += readings;
        if (this.failing) this.logger.log('Devices and readings writable again');
        this.failing = false;
        delay = RETRY_MIN_MS;
      } catch (err) {
        // Keep everything, in order, and retry: readings are never dropped.
        for (const [key, d] of touched) if (!this.touched.has(key)) this.touched.set(key, d);
        this.samples = samples.concat(this.samples);
        this.pendingReadings += readings;
        this.stats.writeErrors++;
        if (!this.failing)
          this.logger.error(`Writing ${rows.length} devices and ${readings} readings failed, retrying: ${String(err)}`);
        this.failing = true;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
      if (this.hasRoom()) this.waiters.splice(0).forEach((wake) => wake());
    }
    this.writing = undefined;
  }
}

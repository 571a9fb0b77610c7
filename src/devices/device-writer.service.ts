import { randomBytes } from 'node:crypto';
import type { BeforeApplicationShutdown, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import type { DeviceEvent } from '../bus/device-event';
import { EventBusService } from '../bus/event-bus.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { GroupCommitQueue } from '../database/group-commit-queue';
import type { Device } from './device.entity';
import { DeviceRegistryService } from './device-registry.service';
import type { Samples } from './devices.repository';
import { DevicesRepository, readingCount } from './devices.repository';

/** Events that come from a device and so change its registry row. */
const DEVICE_EVENTS = new Set(['data', 'status', 'command_response']);

/** What a committed event asks to be written: its device's row (by key), or a data event's samples. */
type Change = { deviceKey: string } | Samples;

/** One transaction: device rows as they were when it was made, samples, and the key that names it. */
interface Write {
  devices: Device[];
  samples: Samples[];
  readings: number;
  key: string;
}

/**
 * Persists the registry and readings from what this instance's devices
 * committed (`DeviceRegistryService.own$`): only what is in the event log is
 * written, and whatever piles up while one
 * transaction runs goes into the next (a GroupCommitQueue, as the event
 * log's; never one write per event). A failed write is retried as it was,
 * under its batch key, so a write that committed but whose answer was lost
 * (the SQLite writer thread dying before its reply) is not stored twice.
 */
@Injectable()
export class DeviceWriterService implements OnModuleInit, BeforeApplicationShutdown, OnModuleDestroy {
  private readonly logger = new Logger(DeviceWriterService.name);
  private subscription: Subscription | undefined;
  private readonly queue: GroupCommitQueue<Change, Write>;
  /**
   * Devices whose row is queued and not yet taken into a write, by key, with the registry's newest
   * state of each (states are replaced, not changed): one row each, however many events.
   */
  private readonly queued = new Map<string, Readonly<Device>>();
  private failing = false;
  /** Names this instance's writes (`reading_batches`), so a retried write is known there. */
  private readonly instanceKey = randomBytes(8).toString('hex');
  private writeCount = 0;
  /** The last write that committed: its key is forgotten in the next write's transaction. */
  private lastCommitted: string | undefined;
  /** Counters for health and metrics. */
  readonly stats = { writes: 0, readings: 0, writeErrors: 0 };

  constructor(
    private readonly bus: EventBusService,
    private readonly registry: DeviceRegistryService,
    private readonly repository: DevicesRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.queue = new GroupCommitQueue<Change, Write>({
      maxBatch: config.readings.batchLimit,
      maxPending: config.readings.queueLimit,
      seal: (changes, readings) => this.seal(changes, readings),
      commit: (write, attempt) => this.write(write, attempt),
      failed: (err) => this.failed(err),
    });
  }

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
    this.queue.release();
  }

  /** True while ingestion may go on without waiting for the database (fewer than READINGS_QUEUE_LIMIT wait). */
  hasRoom(): boolean {
    return this.queue.hasRoom();
  }

  /** Resolves once pending readings are below the bound again. */
  room(): Promise<void> {
    return this.queue.room();
  }

  /** Resolves once everything taken so far is in the database. */
  flush(): Promise<void> {
    return this.queue.drain();
  }

  private take(batch: readonly DeviceEvent[]): void {
    for (const event of batch) {
      if (!DEVICE_EVENTS.has(event.event)) continue;
      const device = this.registry.get(event.device_type, event.device_id);
      if (device === undefined) continue;
      const deviceKey = `${device.deviceType}\u0000${device.deviceId}`;
      if (!this.queued.has(deviceKey)) this.queue.add({ deviceKey }, 0);
      this.queued.set(deviceKey, device);
      if (event.event !== 'data') continue;
      const count = readingCount(event.data);
      // The event's own data, not a copy: events are not changed once published.
      if (count > 0)
        this.queue.add(
          {
            deviceType: event.device_type,
            deviceId: event.device_id,
            ts: Date.parse(event.timestamp),
            data: event.data,
          },
          count,
        );
    }
    this.queue.start();
  }

  /** Copies of the devices' rows: the registry keeps changing while the transaction runs. */
  private seal(changes: Change[], readings: number): Write {
    const devices: Device[] = [];
    const samples: Samples[] = [];
    for (const change of changes) {
      if (!('deviceKey' in change)) {
        samples.push(change);
        continue;
      }
      const d = this.queued.get(change.deviceKey);
      this.queued.delete(change.deviceKey);
      if (d !== undefined) devices.push({ ...d, latestReadings: { ...d.latestReadings } });
    }
    return { devices, samples, readings, key: `${this.instanceKey}-${++this.writeCount}` };
  }

  private async write(write: Write, attempt: number): Promise<void> {
    await this.repository.write(write.devices, write.samples, {
      key: write.key,
      retry: attempt > 0,
      forget: this.lastCommitted,
    });
    this.lastCommitted = write.key;
    this.stats.writes++;
    this.stats.readings += write.readings;
    if (this.failing) this.logger.log('Devices and readings writable again');
    this.failing = false;
  }

  /** Everything is kept, in order, and retried: readings are never dropped. */
  private failed(err: unknown): void {
    this.stats.writeErrors++;
    if (!this.failing)
      this.logger.error(`Writing devices and readings failed, holding ${this.queue.pending} readings: ${String(err)}`);
    this.failing = true;
  }
}

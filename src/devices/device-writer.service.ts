import type { BeforeApplicationShutdown, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { DeviceEvent } from '../bus/device-event';
import type { Following } from '../bus/event-reader.service';
import { EventBusService } from '../bus/event-bus.service';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { isoMs } from '../common/iso-time';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { GroupCommitQueue } from '../database/group-commit-queue';
import { refusedForItsData } from '../database/write-errors';
import type { Device } from './device.entity';
import { DeviceRegistryService } from './device-registry.service';
import type { Samples } from './device-rows';
import { readingCount } from './device-rows';
import { DevicesRepository } from './devices.repository';

/**
 * Least time between the starts of two projection writes while less than a
 * full batch waits. @default 20 ms: at 1,000 lone events a second, 50
 * writes a second instead of 1,000. Nobody waits on them (an event is sent
 * once the log has it; its device row and readings reach their tables up
 * to this much later than before), and each was a transaction of its own
 * on PostgreSQL and four more WAL pages in an event's commit on SQLite
 * (issue #17, BENCHMARKS.md).
 */
const MIN_WRITE_INTERVAL_MS = 20;

/** Events that come from a device and so change its registry row. */
const DEVICE_EVENTS = new Set(['data', 'status', 'command_response']);

/** One transaction: the committed events it projects, the last of which is where the projection then stands. */
interface Write {
  events: readonly DeviceEvent[];
  readings: number;
  upTo: number;
}

/**
 * The devices-and-readings projection (issues #2, #11, #12): the `devices`
 * and `readings` tables are what the event log's committed events make of
 * them, written in log order from a stored position (`projections`), so
 * only what is in the log is written, nothing twice, and nothing is lost
 * when the process dies between a commit and its readings: whoever
 * projects next goes on from the stored position (EventBusService.follow
 * reads the log from there, then follows live batches).
 *
 * One instance projects at a time: the only one, or the cluster's leader
 * (ClusterLeaseService), since every instance sees every committed event;
 * each write moves the position only from where it was made after, so two
 * projectors overlapping during a change of leader store each event once.
 * Whatever piles up while one transaction runs, or in the
 * MIN_WRITE_INTERVAL_MS after the previous one started, goes into the next
 * (a GroupCommitQueue, as the event log's; never one write per event); a
 * failed write is retried from the position the database then holds.
 */
@Injectable()
export class DeviceWriterService implements OnApplicationBootstrap, BeforeApplicationShutdown, OnModuleDestroy {
  private readonly logger = new Logger(DeviceWriterService.name);
  private readonly queue: GroupCommitQueue<readonly DeviceEvent[], Write>;
  private following: Following | undefined;
  /** Where the stored projection stands, as this instance last wrote or read it. */
  private written = 0;
  private failing = false;
  /** The queue's start, waiting for the event loop to finish with the batch it was taken from. */
  private starting: Promise<void> | undefined;
  /** A change of role (leader or not) waiting for the previous one to finish. */
  private switching: Promise<void> = Promise.resolve();
  /** Counters for health and metrics. */
  readonly stats = { writes: 0, readings: 0, writeErrors: 0, refused: 0 };

  constructor(
    private readonly bus: EventBusService,
    private readonly registry: DeviceRegistryService,
    private readonly repository: DevicesRepository,
    private readonly lease: ClusterLeaseService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.queue = new GroupCommitQueue<readonly DeviceEvent[], Write>({
      maxBatch: config.readings.batchLimit,
      maxPending: config.readings.queueLimit,
      seal: (batches, readings) => this.seal(batches, readings),
      commit: (write, attempt) => this.write(write, attempt),
      failed: (err) => this.failed(err),
      minIntervalMs: MIN_WRITE_INTERVAL_MS,
    });
  }

  onApplicationBootstrap(): void {
    this.lease.onLeadership((leading) => {
      this.switching = this.switching.then(() => (leading ? this.startProjecting() : this.stopProjecting()));
    });
  }

  /** The bus flushes its log first; what it committed last is then written here before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.bus.drain();
    await this.switching;
    await this.flush();
  }

  onModuleDestroy(): void {
    this.following?.stop();
    this.following = undefined;
    // Only release waiters that would otherwise hang.
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
  async flush(): Promise<void> {
    await this.starting;
    await this.queue.drain();
  }

  /** From the stored position: the log's events after it, then every committed batch as it comes. */
  private async startProjecting(): Promise<void> {
    if (this.following) return;
    // A previous turn's writes finish first, so the position read is theirs.
    await this.flush();
    for (;;) {
      try {
        this.written = await this.repository.projected();
        break;
      } catch (err) {
        this.failed(err);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    const following = this.bus.follow(this.written, (batch) => this.take(batch));
    this.following = following;
    following.caughtUp.catch((err: unknown) => {
      // The log could not be read: start over from the stored position.
      this.logger.error(`Reading the log for the devices projection failed: ${String(err)}`);
      following.stop();
      if (this.following !== following) return;
      this.following = undefined;
      this.switching = this.switching.then(() => this.startProjecting());
    });
  }

  private stopProjecting(): Promise<void> {
    this.following?.stop();
    this.following = undefined;
    return this.flush();
  }

  private take(batch: readonly DeviceEvent[]): void {
    let readings = 0;
    for (const event of batch) if (event.event === 'data') readings += readingCount(event.data);
    this.queue.add(batch, readings);
    // Started once the event loop is done with the committed batch: by then the event log has sent its next
    // batch to the database, which writes it while this write's rows are made (BENCHMARKS.md, "#14 before/after").
    this.starting ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.starting = undefined;
        this.queue.start();
        resolve();
      }),
    );
  }

  private seal(batches: (readonly DeviceEvent[])[], readings: number): Write {
    const events = batches.length === 1 ? batches[0] : batches.flat();
    return { events, readings, upTo: Number(events[events.length - 1].id) };
  }

  /**
   * Writes the devices (as the registry has them now, which is at least as
   * new as these events) and the data events' readings. A retry first reads
   * where the stored projection stands: an earlier attempt that committed
   * (its answer lost), or another projector, may have stored some or all.
   */
  private async write(write: Write, attempt: number): Promise<void> {
    const after = attempt === 0 ? this.written : await this.repository.projected();
    if (after >= write.upTo) {
      this.written = after;
      return;
    }
    const events = after < Number(write.events[0].id) ? write.events : write.events.filter((e) => Number(e.id) > after);
    await this.store(events, after, write.upTo);
    this.stats.writes++;
    this.stats.readings += write.readings;
    if (this.failing) this.logger.log('Devices and readings writable again');
    this.failing = false;
  }

  /**
   * Stores what the events (`after`, `upTo`] make. A write the database
   * refuses for its data (issue #11, item 4) would fail every retry and
   * hold every reading behind it, so it is halved until the refused event
   * is found; that event's readings (or, failing that, its device row too)
   * are left out and said in the log, and the rest is stored in order.
   */
  private async store(events: readonly DeviceEvent[], after: number, upTo: number): Promise<void> {
    const { devices, samples } = this.changes(events);
    // Nothing to store moves nothing: the next write starts from the same stored position.
    if (devices.length === 0) return;
    try {
      await this.repository.write(devices, samples, { after, upTo });
      this.written = upTo;
      return;
    } catch (err) {
      if (!refusedForItsData(err)) throw err;
      if (events.length > 1) {
        const half = events.length >> 1;
        await this.store(events.slice(0, half), after, Number(events[half - 1].id));
        return this.store(events.slice(half), this.written, upTo);
      }
      this.stats.refused++;
      this.logger.error(
        `The database refused the readings of event ${events[0].id}; they are left out: ${String(err)}`,
      );
    }
    try {
      await this.repository.write(devices, [], { after, upTo });
    } catch (err) {
      if (!refusedForItsData(err)) throw err;
      // Its device row too: only the position moves.
      await this.repository.write([], [], { after, upTo });
    }
    this.written = upTo;
  }

  /** The devices the events touch (as the registry has them now, at least as new as these events) and their readings. */
  private changes(events: readonly DeviceEvent[]): { devices: Device[]; samples: Samples[] } {
    const devices = new Map<string, Device>();
    const samples: Samples[] = [];
    for (const event of events) {
      if (!DEVICE_EVENTS.has(event.event)) continue;
      const key = `${event.device_type}\u0000${event.device_id}`;
      if (!devices.has(key)) {
        const d = this.registry.get(event.device_type, event.device_id);
        if (d === undefined) continue;
        // A copy: the registry's state is replaced, not changed, but its readings map is shared.
        devices.set(key, { ...d, latestReadings: { ...d.latestReadings } });
      }
      // The event's own data, not a copy: events are not changed once published.
      if (event.event === 'data' && readingCount(event.data) > 0)
        samples.push({
          deviceType: event.device_type,
          deviceId: event.device_id,
          ts: isoMs(event.timestamp),
          data: event.data,
        });
    }
    return { devices: [...devices.values()], samples };
  }

  /** Everything is kept, in order, and retried: readings are never dropped. */
  private failed(err: unknown): void {
    this.stats.writeErrors++;
    if (!this.failing)
      this.logger.error(`Writing devices and readings failed, holding ${this.queue.pending} readings: ${String(err)}`);
    this.failing = true;
  }
}

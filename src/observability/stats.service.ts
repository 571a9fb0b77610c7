import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import type { Histogram } from 'prom-client';
import { EventBusService } from '../bus/event-bus.service';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { RedisRepository } from '../cluster/redis.repository';
import { DEFAULT_HEARTBEAT_SEC, DeviceTypes } from '../config/device-types';
import { DeviceRegistryService } from '../devices/device-registry.service';
import { OFFLINE, PROVISIONING } from '../devices/device-events';
import type { HealthReport } from '../health/health.service';
import { HealthService } from '../health/health.service';
import { MetricsService } from './metrics.service';

/** How often the counters are sampled for the rates (and this instance announces itself with Redis). */
export const STATS_SAMPLE_MS = 2000;
/** Samples kept: five minutes of rates. */
export const STATS_SAMPLES = 150;
/** An instance whose announcement is older than this is shown as down (and forgotten after ten times as long). */
export const INSTANCE_TTL_MS = 3 * STATS_SAMPLE_MS + 1000;
const INSTANCES_KEY = 'instances';

interface Sample {
  at: number;
  messages: number;
  rejects: number;
  writes: number;
  writeSeconds: number;
}

/** One point of the rate chart: what happened between the previous sample and this one. */
export interface RatePoint {
  at: string;
  messages_per_sec: number;
  rejects_per_sec: number;
}

export interface InstanceView {
  id: string;
  /** Holds the lease: runs the once-only duties (offline sweep, retention pruning). */
  leader: boolean;
  up: boolean;
  /** The instance's own last announcement (ISO 8601). */
  seen_at: string;
  messages_per_sec: number;
  /** This instance, the one that answered. */
  self: boolean;
}

/** `GET /api/stats`: what the dashboard's fleet overview shows, in one answer. */
export interface StatsView {
  at: string;
  devices: {
    total: number;
    online: number;
    offline: number;
    error: number;
    /** Not offline yet, but not heard for longer than its type's heartbeat interval. */
    silent: number;
    by_status: Record<string, number>;
  };
  /** Seconds; what "silent" is measured against (the sweep marks a device offline after 2.5 of these). */
  heartbeat: { default_interval: number; intervals: Record<string, number> };
  rates: { interval_sec: number; window_sec: number; points: RatePoint[] };
  log: {
    /** Events taken but not yet in the log, and how long the oldest of them has waited. */
    pending_events: number;
    lag_ms: number;
    last_write_ms: number;
    /** Mean time of one batch write over the rate window; null when there was none. */
    avg_write_ms: number | null;
    batches: number;
    events: number;
  };
  health: HealthReport;
  instances: InstanceView[];
}

/**
 * The fleet overview (issue #19): device counts read from the registry when
 * asked, rates from the counters ingestion already keeps (sampled every
 * 2 s into a fixed ring, nothing added to the hot path), the log's backlog,
 * `/health`'s report, and with Redis which instances are up and which leads.
 */
@Injectable()
export class StatsService implements OnModuleInit, OnModuleDestroy {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private messagesPerSec = 0;

  constructor(
    private readonly metrics: MetricsService,
    private readonly bus: EventBusService,
    private readonly health: HealthService,
    private readonly registry: DeviceRegistryService,
    private readonly deviceTypes: DeviceTypes,
    private readonly lease: ClusterLeaseService,
    private readonly redis: RedisRepository,
  ) {}

  onModuleInit(): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), STATS_SAMPLE_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.hashDelete(this.redis.key(INSTANCES_KEY), this.lease.instanceId);
  }

  async stats(now = Date.now()): Promise<StatsView> {
    const [health, instances] = await Promise.all([this.health.report(), this.instances(now)]);
    const backlog = this.bus.backlog();
    const oldest = backlog.oldest ? Date.parse(backlog.oldest.received_at) : Number.NaN;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const writes = first && last ? last.writes - first.writes : 0;
    return {
      at: new Date(now).toISOString(),
      ...this.devices(now),
      rates: {
        interval_sec: STATS_SAMPLE_MS / 1000,
        window_sec: (STATS_SAMPLE_MS * STATS_SAMPLES) / 1000,
        points: this.points(),
      },
      log: {
        pending_events: backlog.events,
        lag_ms: Number.isNaN(oldest) ? 0 : Math.max(0, now - oldest),
        last_write_ms: round(this.bus.stats.lastWriteMs),
        avg_write_ms: writes > 0 ? round(((last.writeSeconds - first.writeSeconds) * 1000) / writes) : null,
        batches: this.bus.stats.batches,
        events: this.bus.stats.events,
      },
      health,
      instances,
    };
  }

  /** One pass over the registry per request (the page asks every few seconds), not per event. */
  private devices(now: number): Pick<StatsView, 'devices' | 'heartbeat'> {
    const byStatus: Record<string, number> = {};
    const intervals: Record<string, number> = {};
    let total = 0;
    let silent = 0;
    for (const d of this.registry.all()) {
      total++;
      byStatus[d.status] = (byStatus[d.status] ?? 0) + 1;
      const heartbeatMs = this.deviceTypes.heartbeatMs(d.deviceType);
      intervals[d.deviceType] = heartbeatMs / 1000;
      if (d.status !== OFFLINE && d.status !== PROVISIONING && now - d.lastSeen > heartbeatMs) silent++;
    }
    return {
      devices: {
        total,
        online: byStatus.online ?? 0,
        offline: byStatus.offline ?? 0,
        error: byStatus.error ?? 0,
        silent,
        by_status: byStatus,
      },
      heartbeat: { default_interval: DEFAULT_HEARTBEAT_SEC, intervals },
    };
  }

  private points(): RatePoint[] {
    const points: RatePoint[] = [];
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1];
      const b = this.samples[i];
      const sec = (b.at - a.at) / 1000;
      if (sec <= 0) continue;
      points.push({
        at: new Date(b.at).toISOString(),
        messages_per_sec: round((b.messages - a.messages) / sec),
        rejects_per_sec: round((b.rejects - a.rejects) / sec),
      });
    }
    return points;
  }

  private async sample(): Promise<void> {
    // Device messages from MQTT and from signalling device channels (issue #15) alike.
    const [messages, signalled, rejects, writes] = await Promise.all([
      this.metrics.mqttMessages.get(),
      this.metrics.signallingDeviceMessages.get(),
      this.metrics.mqttRejected.get(),
      this.metrics.logWriteSeconds.get(),
    ]);
    const s: Sample = {
      at: Date.now(),
      messages: [...messages.values, ...signalled.values].reduce((sum, v) => sum + v.value, 0),
      rejects: rejects.values.reduce((sum, v) => sum + v.value, 0),
      ...histogramTotals(writes),
    };
    const previous = this.samples[this.samples.length - 1];
    this.samples.push(s);
    if (this.samples.length > STATS_SAMPLES + 1) this.samples.shift();
    if (previous && s.at > previous.at)
      this.messagesPerSec = round(((s.messages - previous.messages) * 1000) / (s.at - previous.at));
    if (this.redis.enabled) {
      const announcement = { leader: this.lease.isLeader, at: s.at, messages_per_sec: this.messagesPerSec };
      await this.redis.hashSet(this.redis.key(INSTANCES_KEY), this.lease.instanceId, JSON.stringify(announcement));
    }
  }

  /** With Redis every instance's announcement; without it, this instance alone (which then always leads). */
  private async instances(now: number): Promise<InstanceView[]> {
    const self: InstanceView = {
      id: this.lease.instanceId,
      leader: this.lease.isLeader,
      up: true,
      seen_at: new Date(now).toISOString(),
      messages_per_sec: this.messagesPerSec,
      self: true,
    };
    if (!this.redis.enabled) return [self];
    const key = this.redis.key(INSTANCES_KEY);
    const announced = (await this.redis.hashGetAll(key)) ?? {};
    const views: InstanceView[] = [self];
    const forgotten: string[] = [];
    for (const [id, text] of Object.entries(announced)) {
      if (id === self.id) continue;
      const a = parseAnnouncement(text);
      if (a === undefined || now - a.at > 10 * INSTANCE_TTL_MS) {
        forgotten.push(id);
        continue;
      }
      const up = now - a.at <= INSTANCE_TTL_MS;
      views.push({
        id,
        leader: up && a.leader,
        up,
        seen_at: new Date(a.at).toISOString(),
        messages_per_sec: a.messages_per_sec,
        self: false,
      });
    }
    await this.redis.hashDelete(key, ...forgotten);
    return views.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

function histogramTotals(h: Awaited<ReturnType<Histogram['get']>>): Pick<Sample, 'writes' | 'writeSeconds'> {
  let writes = 0;
  let writeSeconds = 0;
  for (const v of h.values) {
    if (v.metricName?.endsWith('_count')) writes += v.value;
    else if (v.metricName?.endsWith('_sum')) writeSeconds += v.value;
  }
  return { writes, writeSeconds };
}

function parseAnnouncement(text: string): { leader: boolean; at: number; messages_per_sec: number } | undefined {
  try {
    const a = JSON.parse(text) as { leader?: unknown; at?: unknown; messages_per_sec?: unknown };
    if (typeof a.at !== 'number') return undefined;
    return {
      leader: a.leader === true,
      at: a.at,
      messages_per_sec: typeof a.messages_per_sec === 'number' ? a.messages_per_sec : 0,
    };
  } catch {
    return undefined;
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

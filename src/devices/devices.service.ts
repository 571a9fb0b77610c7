import { Inject, Injectable } from '@nestjs/common';
import { ChannelMatcher } from '../auth/channel-pattern';
import type { ClientClaims } from '../auth/token.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { NotFoundError } from '../common/domain-error';
import type { Device } from './device.entity';
import { DeviceRegistryService } from './device-registry.service';
import type { BucketView, DeviceListQuery, DeviceView, ReadingView } from './devices.dto';
import { bucketView, deviceView, readingView } from './devices.dto';
import { DevicesRepository } from './devices.repository';
import type { ReadingsQuery } from './readings-query';
import type { RecentReadingsAnswer, RecentReadingsQuery } from './recent-readings';

/** Who asks: a client token's claims, or nobody (AUTH=off without a token), who sees every device. */
export type Viewer = ClientClaims | undefined;

export type ReadingsAnswer =
  | { device_type: string; device_id: string; readings: ReadingView[] }
  | { device_type: string; device_id: string; interval: string; agg: string; buckets: BucketView[] };

/**
 * Reads of the registry and the readings history (bridge.md, "REST and
 * admin"), narrowed to what the viewer's `channels` claim allows.
 */
@Injectable()
export class DevicesService {
  private readonly prefix: string;

  constructor(
    private readonly registry: DeviceRegistryService,
    private readonly repository: DevicesRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.prefix = config.mqtt.topicPrefix;
  }

  /** Sorted by type, then id. */
  list(viewer: Viewer, query: DeviceListQuery): { devices: DeviceView[]; total: number } {
    const sees = this.visibility(viewer);
    const matching: Readonly<Device>[] = [];
    for (const d of this.registry.all()) {
      if (query.deviceType !== undefined && d.deviceType !== query.deviceType) continue;
      if (query.status !== undefined && d.status !== query.status) continue;
      if (sees(d.deviceType, d.deviceId)) matching.push(d);
    }
    matching.sort((a, b) => compare(a.deviceType, b.deviceType) || compare(a.deviceId, b.deviceId));
    return {
      devices: matching.slice(query.offset, query.offset + query.limit).map(deviceView),
      total: matching.length,
    };
  }

  get(viewer: Viewer, deviceType: string, deviceId: string): DeviceView {
    return deviceView(this.visibleDevice(viewer, deviceType, deviceId));
  }

  async readings(viewer: Viewer, deviceType: string, deviceId: string, query: ReadingsQuery): Promise<ReadingsAnswer> {
    this.visibleDevice(viewer, deviceType, deviceId);
    const range = {
      deviceType,
      deviceId,
      startMs: query.startMs,
      endMs: query.endMs,
      name: query.name,
      limit: query.limit,
      keep: query.keep,
    };
    if (query.bucket === undefined) {
      const rows = await this.repository.readings(range);
      return { device_type: deviceType, device_id: deviceId, readings: rows.map(readingView) };
    }
    const buckets = await this.repository.buckets(range, query.bucket.widthMs, query.bucket.agg);
    return {
      device_type: deviceType,
      device_id: deviceId,
      interval: query.bucket.interval,
      agg: query.bucket.agg,
      buckets: buckets.map(bucketView),
    };
  }

  /**
   * For each listed device the viewer may see, in the order asked, the last
   * `limit` samples of its first numeric reading by name (the one the
   * console's sparkline draws): one query for them all. Devices unknown or
   * not visible are left out, as unknown as in `get`.
   */
  async recent(viewer: Viewer, query: RecentReadingsQuery): Promise<RecentReadingsAnswer> {
    const sees = this.visibility(viewer);
    const series: { deviceType: string; deviceId: string; name: string | null }[] = [];
    for (const { deviceType, deviceId } of query.devices) {
      const device = this.registry.get(deviceType, deviceId);
      if (device === undefined || !sees(deviceType, deviceId)) continue;
      const latest = device.latestReadings;
      const name = Object.keys(latest)
        .sort(compare)
        .find((n) => typeof latest[n].value === 'number');
      series.push({ deviceType, deviceId, name: name ?? null });
    }
    const samples = await this.repository.recentSamples(
      series.filter((s): s is { deviceType: string; deviceId: string; name: string } => s.name !== null),
      query.limit,
    );
    return {
      limit: query.limit,
      devices: series.map((s) => ({
        device_type: s.deviceType,
        device_id: s.deviceId,
        reading: s.name,
        readings: (samples.get(`${s.deviceType}/${s.deviceId}`) ?? []).map((r) => ({
          timestamp: new Date(r.ts).toISOString(),
          value: r.value,
        })),
      })),
    };
  }

  /**
   * The device when it exists and the viewer may see it: a device is visible
   * when the claim allows its `data` or `status` channel. An invisible device
   * is as unknown as a missing one, so tokens cannot probe for ids.
   */
  visibleDevice(viewer: Viewer, deviceType: string, deviceId: string): Readonly<Device> {
    const device = this.registry.get(deviceType, deviceId);
    if (device === undefined || !this.visibility(viewer)(deviceType, deviceId)) {
      throw new NotFoundError('unknown_device', `No device ${deviceType}/${deviceId}`);
    }
    return device;
  }

  /** `{prefix}/{type}/{id}/cmd`, the channel a command sender's claim must allow. */
  commandChannel(deviceType: string, deviceId: string): string {
    return `${this.prefix}/${deviceType}/${deviceId}/cmd`;
  }

  private visibility(viewer: Viewer): (deviceType: string, deviceId: string) => boolean {
    if (viewer === undefined) return () => true;
    const matcher = new ChannelMatcher(viewer.channels);
    return (t, i) =>
      matcher.matches(`${this.prefix}/${t}/${i}/data`) || matcher.matches(`${this.prefix}/${t}/${i}/status`);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

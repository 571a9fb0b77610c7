import type { OnModuleDestroy } from '@nestjs/common';
import { Injectable, Logger } from '@nestjs/common';
import { DeviceTypes } from '../config/device-types';
import type { DeviceChannel } from '../devices/device-channels';
import { DEVICE_TO_SERVER, DeviceChannels } from '../devices/device-channels';
import { DeviceIngestService } from '../devices/device-ingest.service';
import type { DevicePayloadKind } from '../devices/device-payloads';
import { parseDevicePayload } from '../devices/device-payloads';
import { DeviceRejects } from '../devices/device-rejects';
import type { IngestMessage } from '../devices/ingest-message';
import { MetricsService } from '../observability/metrics.service';
import { patternCovers } from './channel-rules';
import { deviceOfPeer, devicePeerId } from './device-peer-id';
import { SignallingError } from './signalling-frames';
import type { SignallingPeer } from './signalling-peer';

/**
 * Publishes taken from device channels and not yet answered, on this
 * instance; past it a publish is answered `backend_error` (retryable) until
 * the log catches up. Each connection is held to 100 msg/s besides.
 */
export const MAX_WAITING_PUBLISHES = 10_000;

interface Waiting {
  message: IngestMessage;
  channel: string;
  data: unknown;
  resolve: () => void;
  reject: (err: SignallingError) => void;
  requestId?: string;
}

/**
 * Devices that speak signalling are devices (issue #15). A publish on a
 * device channel (`{prefix}/{type}/{id}/data|status|cmd/response`, or a
 * mapped one) is parsed and validated as the MQTT message of that kind and
 * ingested the same way; what it resolves to is the moment its event is in
 * the log, so the hub acknowledges only then. The raw publish is never
 * relayed: subscribers get the mirror's copy of the event, once. Device and
 * gateway tokens are held to their direction here, and a device's
 * connection sets its status.
 */
@Injectable()
export class DeviceChannelsService implements OnModuleDestroy {
  private readonly logger = new Logger('Signalling');
  private readonly commandPatterns: string[];
  private batch: Waiting[] = [];
  private running: Promise<void> | undefined;
  private readonly writing = new Set<Promise<void>>();
  private waiting = 0;
  private stopping = false;

  constructor(
    private readonly channels: DeviceChannels,
    private readonly devices: DeviceIngestService,
    private readonly types: DeviceTypes,
    private readonly rejects: DeviceRejects,
    private readonly metrics: MetricsService,
  ) {
    this.commandPatterns = channels.commandPatterns();
  }

  /** The device and kind a channel names, or undefined. */
  route(channel: string): DeviceChannel | undefined {
    return this.channels.route(channel);
  }

  /** A device or gateway publishes only data, status and command answers, a device only its own. */
  checkPublish(peer: SignallingPeer, device: DeviceChannel | undefined, requestId?: string): void {
    const role = peer.identity.role;
    if (role === undefined) return;
    if (device === undefined || !DEVICE_TO_SERVER.has(device.kind))
      throw new SignallingError(
        'channel_not_authorized',
        `a ${role} token publishes only on data, status and cmd/response channels`,
        requestId,
      );
    if (role === 'device' && peer.peerId !== devicePeerId(device.deviceType, device.deviceId))
      throw new SignallingError('channel_not_authorized', `${peer.peerId} publishes only as itself`, requestId);
  }

  /** A device or gateway subscribes only to command channels. */
  checkSubscribe(peer: SignallingPeer, pattern: string, requestId?: string): void {
    const role = peer.identity.role;
    if (role === undefined || this.commandPatterns.some((p) => patternCovers(p, pattern))) return;
    throw new SignallingError(
      'channel_not_authorized',
      `a ${role} token subscribes only to command channels`,
      requestId,
    );
  }

  /**
   * Takes a device message. Throws `malformed_message` naming the reject
   * reason (and keeps the reject, as MQTT's), or `backend_error` while the
   * log is too far behind; the promise settles once the event is in the log.
   */
  ingest(channel: string, device: DeviceChannel, data: unknown, requestId?: string): Promise<void> {
    const receivedAt = Date.now();
    const origin = { deviceType: device.deviceType, deviceId: device.deviceId, receivedAt };
    const parsed = parseDevicePayload(device.kind as DevicePayloadKind, data, origin, this.types);
    if (parsed.kind === 'rejected') {
      const payload = Buffer.from(JSON.stringify(data) ?? '');
      this.rejects.record({ topic: channel, payload, reason: parsed.reason, detail: parsed.detail, receivedAt });
      throw new SignallingError('malformed_message', `${parsed.reason}: ${parsed.detail}`, requestId);
    }
    if (this.stopping) throw new SignallingError('backend_error', 'the service is shutting down', requestId);
    if (this.waiting >= MAX_WAITING_PUBLISHES)
      throw new SignallingError('backend_error', 'the event log is behind; publish again shortly', requestId);
    this.waiting++;
    this.metrics.signallingDeviceMessages.inc({ kind: parsed.message.kind });
    return new Promise<void>((resolve, reject) => {
      this.batch.push({ message: parsed.message, channel, data, resolve, reject, ...(requestId ? { requestId } : {}) });
      this.running ??= this.run();
    });
  }

  /** A device's connection: `online` (issue #15), as a device connecting to the embedded broker. */
  connected(peer: SignallingPeer): void {
    const device = peer.identity.role === 'device' ? deviceOfPeer(peer.peerId) : undefined;
    if (device === undefined || this.stopping) return;
    this.devices
      .connected(device.deviceType, device.deviceId)
      .catch((err: unknown) => this.logger.error(`Marking ${peer.peerId} online failed: ${String(err)}`));
  }

  /** A device's last connection closed: `offline`, as an MQTT last will. Not while the service stops. */
  disconnected(peer: SignallingPeer): void {
    const device = peer.identity.role === 'device' ? deviceOfPeer(peer.peerId) : undefined;
    if (device === undefined || this.stopping) return;
    this.devices
      .disconnected(device.deviceType, device.deviceId)
      .catch((err: unknown) => this.logger.error(`Marking ${peer.peerId} offline failed: ${String(err)}`));
  }

  /** Shutdown: no new device messages or statuses; those taken are written (the bus flushes after this). */
  stop(): void {
    this.stopping = true;
  }

  async onModuleDestroy(): Promise<void> {
    this.stop();
    while (this.running || this.writing.size > 0) {
      await this.running;
      await Promise.all([...this.writing]);
    }
  }

  /** One batch at a time onto the bus, as MQTT ingestion does; publishes arriving meanwhile form the next. */
  private async run(): Promise<void> {
    // Let the publishes of the same socket reads arrive before the first write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.batch.length > 0) {
      const batch = this.batch;
      this.batch = [];
      let written: Promise<unknown>;
      const failed = new Set<number>();
      try {
        const queued = await this.devices.enqueue(batch.map((w) => w.message));
        written = queued.written;
        for (const { index, error } of queued.failed) {
          failed.add(index);
          this.failOne(batch[index], error);
        }
      } catch (err) {
        written = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      const settled = written.then(
        () => batch.forEach((w, i) => failed.has(i) || w.resolve()),
        (err: unknown) => {
          this.logger.error(`Ingesting ${batch.length} device publishes failed: ${String(err)}`);
          batch.forEach(
            (w, i) =>
              failed.has(i) ||
              w.reject(new SignallingError('backend_error', 'not written; publish again', w.requestId)),
          );
        },
      );
      this.writing.add(settled);
      void settled.then(() => {
        this.writing.delete(settled);
        this.waiting -= batch.length;
      });
    }
    this.running = undefined;
  }

  /** A valid message the bridge failed to turn into events (a bug): kept as an `ingest_failed` reject. */
  private failOne(w: Waiting, error: unknown): void {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    const payload = Buffer.from(JSON.stringify(w.data) ?? '');
    this.rejects.record({
      topic: w.channel,
      payload,
      reason: 'ingest_failed',
      detail,
      receivedAt: w.message.receivedAt,
    });
    w.reject(new SignallingError('internal_error', 'the message could not be ingested', w.requestId));
  }
}

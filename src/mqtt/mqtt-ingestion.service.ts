import type { OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { DeviceTypes } from '../config/device-types';
import { FencedError } from '../bus/ingest-fence';
import { DeviceIngestService } from '../devices/device-ingest.service';
import type { IngestMessage } from '../devices/ingest-message';
import { MetricsService } from '../observability/metrics.service';
import { StageClock } from '../observability/stage-clock';
import { MqttRouter } from './mqtt-router';
import type { Done, InboundMessage } from './mqtt-transport';
import { MqttTransport } from './mqtt-transport';
import { RejectsService } from './rejects.service';

/**
 * The MQTT side of ingestion: every message from the transport goes through
 * the router; rejects go to RejectsService, the rest are gathered for the
 * length of one socket read and handed to DeviceIngestService together. The
 * next batch is ingested while the previous one is being logged. A message's
 * `done` (its acknowledgement, and the transport's backpressure) is called
 * once its batch is in the event log.
 */
@Injectable()
export class MqttIngestionService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('MqttIngestion');
  private readonly router: MqttRouter;
  private batch: IngestMessage[] = [];
  /** Each message's topic and payload, kept until its batch is queued, for the reject a failed one becomes. */
  private sources: InboundMessage[] = [];
  private dones: Done[] = [];
  private running: Promise<void> | undefined;
  /** Batches queued on the bus and not yet in the log. */
  private readonly writing = new Set<Promise<boolean>>();
  /** `devicehub_mqtt_messages_total` by kind, each label looked up once (not once per message). */
  private readonly counted: Record<IngestMessage['kind'], { inc(): void }>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    types: DeviceTypes,
    private readonly transport: MqttTransport,
    private readonly devices: DeviceIngestService,
    private readonly rejects: RejectsService,
    metrics: MetricsService,
  ) {
    const { mqttMessages } = metrics;
    this.counted = {
      data: mqttMessages.labels('data'),
      status: mqttMessages.labels('status'),
      command_response: mqttMessages.labels('command_response'),
    };
    this.router = new MqttRouter(
      { topicPrefix: config.mqtt.topicPrefix, maxMessageSize: config.maxMessageSize, json: config.json },
      types,
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    this.transport.onDeviceConnect((deviceType, deviceId) => {
      this.devices
        .connected(deviceType, deviceId)
        .catch((err: unknown) => this.logger.error(`Marking ${deviceType}/${deviceId} online failed: ${String(err)}`));
    });
    await this.transport.start((message, done) => this.receive(message, done));
  }

  /** Producers stop first (the bus flushes the log after this). */
  async onModuleDestroy(): Promise<void> {
    await this.transport.stop();
    await this.drain();
  }

  /** Resolves once every message received so far is in the log. */
  async drain(): Promise<void> {
    while (this.running || this.writing.size > 0) {
      await this.running;
      await Promise.all([...this.writing]);
    }
  }

  private receive(inbound: InboundMessage, done: Done): void {
    const { topic, payload } = inbound;
    const receivedAt = Date.now();
    const tracedAt = StageClock.on ? performance.now() : 0;
    let routed;
    try {
      routed = this.router.route(topic, payload, receivedAt);
    } catch (err) {
      // A router bug must cost this message only, never the ingestion loop; it is still a kept reject.
      this.logger.error(`Routing ${topic} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      this.ingestFailed(inbound, { receivedAt }, err);
      return done();
    }
    switch (routed.kind) {
      case 'ignored':
        return done();
      case 'rejected':
        this.rejects.record(topic, payload, routed.reason, routed.detail, receivedAt);
        return done();
      case 'message':
        this.counted[routed.message.kind].inc();
        if (tracedAt > 0 && routed.message.kind === 'data')
          for (const sample of routed.message.samples) StageClock.mark(sample.values, 'received', tracedAt);
        this.batch.push(routed.message);
        this.sources.push(inbound);
        this.dones.push(done);
        this.running ??= this.run();
    }
  }

  /** One batch at a time onto the bus; messages arriving meanwhile form the next. */
  private async run(): Promise<void> {
    // Let the messages of the same socket read arrive before the first write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.batch.length > 0) {
      const batch = this.batch;
      const sources = this.sources;
      const dones = this.dones;
      this.batch = [];
      this.sources = [];
      this.dones = [];
      // Messages of one ingest-lease epoch go together (issue #12): a handover inside this instance splits.
      let start = 0;
      for (let end = 1; end <= batch.length; end++) {
        if (end < batch.length && sources[end].fence === sources[start].fence) continue;
        const whole = start === 0 && end === batch.length;
        await this.queue(
          whole ? batch : batch.slice(start, end),
          whole ? sources : sources.slice(start, end),
          whole ? dones : dones.slice(start, end),
        );
        start = end;
      }
    }
    this.running = undefined;
  }

  /** Queues one batch on the bus; its messages are acknowledged once it is written, never if its lease ended. */
  private async queue(batch: IngestMessage[], sources: InboundMessage[], dones: Done[]): Promise<void> {
    let written: Promise<unknown>;
    try {
      const queued = await this.devices.enqueue(batch, sources[0].fence);
      written = queued.written;
      // A message the device service could not take is a bug, but still a counted, kept reject (issue #18).
      for (const { index, error } of queued.failed) this.ingestFailed(sources[index], batch[index], error);
    } catch (err) {
      // The same for a whole batch: acknowledged (a redelivery would fail alike), each message kept as a reject.
      this.failed(batch.length, err);
      batch.forEach((message, i) => this.ingestFailed(sources[i], message, err));
      written = Promise.resolve();
    }
    const settled = written.then(
      () => true,
      (err: unknown) => {
        // Not written, and never will be by this instance: the broker sends them again to the lease's holder.
        if (err instanceof FencedError) return false;
        this.failed(batch.length, err);
        return true;
      },
    );
    this.writing.add(settled);
    void settled.then((acknowledge) => {
      this.writing.delete(settled);
      for (const done of dones) done(acknowledge);
    });
  }

  private ingestFailed({ topic, payload }: InboundMessage, message: { receivedAt: number }, error: unknown): void {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.rejects.record(topic, payload, 'ingest_failed', detail, message.receivedAt);
  }

  /** The bus retries its own writes; anything else thrown here is a bug worth a loud line. */
  private failed(count: number, err: unknown): void {
    this.logger.error(
      `Ingesting ${count} messages failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  }
}

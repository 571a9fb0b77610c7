import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import type { IngestFence } from '../bus/ingest-fence';
import type { IngestLeaseService } from '../cluster/ingest-lease.service';
import type { AppConfig } from '../config/app-config';
import type { MetricsService } from '../observability/metrics.service';
import type { MessageHandler } from './broker-connection';
import { BrokerConnection } from './broker-connection';
import type { Ingestion } from './mqtt-transport';
import { MqttTransport } from './mqtt-transport';

/** Longest wait at shutdown for received messages to be committed and acknowledged. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * The bridge's connections to the broker at `MQTT_URL` (Mosquitto, EMQX, …),
 * each a BrokerConnection (MQTT 5 or 3.1.1, reconnecting, acknowledging
 * after commit).
 *
 * Alone, one connection with a persistent session under a stable client id
 * (the broker queues QoS 1 messages while the bridge restarts). In a share
 * group (`MQTT_SHARE_GROUP`, issue #12) by `MQTT_INGEST`:
 *
 * - `lease` (default): every instance keeps a clean connection to publish
 *   commands; the holder of the group's ingest lease (IngestLeaseService)
 *   also connects as the group, `devicehub-{group}-{prefix}`, with a
 *   persistent session subscribed to `$share/{group}/{prefix}/#`. One
 *   session, one reader at a time: the broker's per-publisher order reaches
 *   the log intact. When the holder dies the session stays at the broker,
 *   queueing; the next holder connects under the same id and is sent what the
 *   dead one had not acknowledged, then what queued meanwhile, in order. A
 *   holder that loses the lease drops its connection at once without
 *   acknowledging, and the lease's epoch fences whatever it was still
 *   committing (bus/ingest-fence.ts).
 * - `shared`: every instance subscribes to `$share/{group}/{prefix}/#` on a
 *   clean session (persistent under `MQTT_CLIENT_ID`); the broker picks a
 *   member per message. Per-device order holds only where the broker hands
 *   one device's messages to one member (EMQX `hash_clientid`), and a killed
 *   member's unacknowledged messages are lost on brokers that do not hand
 *   them on (Mosquitto: docs/architecture.md).
 */
export class ExternalBrokerTransport extends MqttTransport {
  private readonly logger = new Logger('MqttClient');
  /** Publishes commands; also ingests unless a lease picks the instance that ingests. */
  private readonly main: BrokerConnection;
  /** The share group's session, while this instance holds the ingest lease. */
  private ingest: BrokerConnection | undefined;
  private handler: MessageHandler | undefined;
  private stopping = false;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly lease: IngestLeaseService,
  ) {
    super();
    const group = config.mqtt.shareGroup;
    const named = config.mqtt.clientId;
    // A clean session for an unnamed member of a share group, and for every instance's publishing connection
    // when a lease picks the one that ingests.
    const clean = group !== undefined && (named === undefined || this.leased);
    this.main = new BrokerConnection(config, metrics, {
      label: 'MqttClient',
      clientId: named ?? (clean ? `devicehub-${hostname()}-${config.http.port}-${process.pid}` : this.aloneClientId()),
      clean,
      subscription: this.leased ? undefined : this.subscription,
    });
  }

  /** Whether the share group's members take turns by lease (issue #12). */
  get leased(): boolean {
    return this.config.mqtt.shareGroup !== undefined && this.config.mqtt.ingest === 'lease';
  }

  /** Connected (and, where this instance ingests, subscribed). /health reports the broker up only then. */
  get connected(): boolean {
    return this.main.connected && (this.ingest === undefined || this.ingest.connected);
  }

  /** This instance's part in ingestion, for /health and the console. */
  override get ingestion(): Ingestion {
    if (!this.leased) return { mode: this.config.mqtt.shareGroup ? 'shared' : 'alone', ingesting: true };
    const fence = this.lease.fence;
    return { mode: 'lease', ingesting: fence !== undefined, ...(fence ? { epoch: fence.epoch } : {}) };
  }

  get subscription(): string {
    const all = `${this.config.mqtt.topicPrefix}/#`;
    return this.config.mqtt.shareGroup ? `$share/${this.config.mqtt.shareGroup}/${all}` : all;
  }

  describe(): { external: string } {
    return { external: this.main.broker };
  }

  async start(handler: MessageHandler): Promise<void> {
    if (this.config.mqtt.externalTls?.rejectUnauthorized === false) {
      this.logger.warn(`MQTT_REJECT_UNAUTHORIZED=false: any certificate is taken for ${this.main.broker}`);
    }
    this.handler = handler;
    if (!this.leased) return this.main.start(handler);
    await this.main.start();
    this.lease.start((fence) => this.leaseChanged(fence));
  }

  publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    return this.main.publish(topic, payload, qos);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.leased) {
      await this.ingest?.stop(DRAIN_TIMEOUT_MS);
      this.ingest = undefined;
      await this.lease.release();
      await this.main.stop(0);
      return;
    }
    await this.main.stop(DRAIN_TIMEOUT_MS);
  }

  /** The group's session, stable across instances and restarts: whoever holds the lease resumes it. */
  private get groupClientId(): string {
    return `devicehub-${this.config.mqtt.shareGroup ?? ''}-${this.config.mqtt.topicPrefix}`;
  }

  /**
   * Stable across restarts when alone (the broker resumes its session): the same host, topic prefix and data
   * directory make the same bridge; two bridges on one host never share a session.
   */
  private aloneClientId(): string {
    const digest = createHash('sha256')
      .update(`${resolve(this.config.dataDir)}:${this.config.http.port}`)
      .digest('hex')
      .slice(0, 12);
    return `devicehub-bridge-${hostname()}-${this.config.mqtt.topicPrefix}-${digest}`;
  }

  private leaseChanged(fence: IngestFence | undefined): void {
    const previous = this.ingest;
    this.ingest = undefined;
    // Lost: gone at once, unacknowledged; the next holder is sent those messages again.
    if (previous) void previous.stop();
    if (fence === undefined || this.stopping || this.handler === undefined) return;
    const ingest = new BrokerConnection(this.config, this.metrics, {
      label: 'MqttIngest',
      clientId: this.groupClientId,
      clean: false,
      subscription: this.subscription,
      fence,
      mayReconnect: () => this.lease.confirm(),
      onTakenOver: () => void this.lease.confirm(),
    });
    this.ingest = ingest;
    void ingest.start(this.handler);
  }
}

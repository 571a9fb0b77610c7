import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import type { IClientOptions, MqttClient, Packet } from 'mqtt';
import { connect } from 'mqtt';
import type { IngestFence } from '../bus/ingest-fence';
import { Backoff } from '../common/backoff';
import type { AppConfig, ExternalTlsConfig } from '../config/app-config';
import type { MetricsService } from '../observability/metrics.service';
import { CommitAcks } from './commit-acks';
import { InFlightWindow } from './in-flight-window';
import type { Done, InboundMessage } from './mqtt-transport';
import { RateLimitedLog } from './rate-limited-log';

/** Session kept by the broker while a persistent session's owner is away (MQTT 5 session expiry, seconds). */
const SESSION_EXPIRY_SEC = 3600;
/** CONNACK codes meaning "this broker does not speak MQTT 5": fall back to 3.1.1. */
const UNSUPPORTED_PROTOCOL = new Set([1, 132]);
/** MQTT 5 DISCONNECT reason: another connection took this client id's session. */
const SESSION_TAKEN_OVER = 142;

type SendPacket = (packet: Packet & { messageId?: number }, cb?: (error?: Error) => void, ...rest: unknown[]) => void;
export type MessageHandler = (message: InboundMessage, done: Done) => void;

export interface BrokerConnectionOptions {
  /** Names the connection in log lines. */
  label: string;
  clientId: string;
  /** A clean session, or a persistent one the broker keeps (and sends again from) while this connection is away. */
  clean: boolean;
  /** Subscribed to (QoS 1) on every connect; unset for a connection that only publishes. */
  subscription?: string;
  /** The ingest-lease epoch this connection's messages come under (issue #12). */
  fence?: IngestFence;
  /** Asked before every reconnect; false ends the connection for good (its lease is gone). */
  mayReconnect?: () => Promise<boolean>;
  /** Told when the broker says another connection took this session over. */
  onTakenOver?: () => void;
}

/**
 * One MQTT.js client of the broker at `MQTT_URL`: MQTT 5 where the broker
 * offers it, 3.1.1 otherwise; reconnects forever with capped, jittered
 * backoff, subscribing again on every connect.
 *
 * Acknowledgements (issue #11): a QoS 1 message is acknowledged to the broker
 * only once its event is committed. MQTT.js writes the PUBACK as soon as
 * `handleMessage` calls back and reads the next packet only after that, so
 * `handleMessage` calls back at once (while the InFlightWindow has room) and
 * the PUBACK is held by CommitAcks until the commit. A connection that closes
 * drops what it held: the broker sends those messages again.
 */
export class BrokerConnection {
  private readonly logger: Logger;
  private readonly backoff = new Backoff();
  /** Connection errors and failed attempts: one line of each per 30 s while the broker stays away. */
  private readonly attempts: RateLimitedLog;
  private client: MqttClient | undefined;
  private protocolVersion: 4 | 5 = 5;
  private stopped = false;
  private subscribed = false;
  /** Messages handed to ingestion and not yet logged, at most `MQTT_MAX_IN_FLIGHT`. */
  private readonly window: InFlightWindow;
  /** The current connection's acknowledgements waiting for the log. */
  private acks = new CommitAcks();
  private disconnects = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly options: BrokerConnectionOptions,
  ) {
    this.logger = new Logger(options.label);
    this.attempts = new RateLimitedLog((line) => this.logger.warn(line), 30_000);
    this.window = new InFlightWindow(config.mqtt.maxInFlight);
  }

  /** Connected, and subscribed when it has a subscription. */
  get connected(): boolean {
    return this.client?.connected === true && (this.options.subscription === undefined || this.subscribed);
  }

  /** Messages received and not yet acknowledged. */
  get unacknowledged(): number {
    return this.acks.pending;
  }

  get broker(): string {
    const url = new URL(this.config.mqtt.url ?? '');
    url.username = '';
    url.password = '';
    return url.toString();
  }

  /** Connects; resolves on the first connect (and subscription) or the first failure, so start-up never waits on a broker. */
  start(handler?: MessageHandler): Promise<void> {
    return new Promise<void>((resolve) => this.connectClient(handler, resolve));
  }

  publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.connected) {
      return Promise.reject(new Error(`the MQTT broker ${this.broker} is not connected`));
    }
    return client.publishAsync(topic, payload, { qos }).then(() => undefined);
  }

  /**
   * Ends the connection. With `drainMs`, first waits that long at most for
   * the messages being committed to be acknowledged; without, drops them at
   * once (the broker sends them again to whoever takes the session).
   */
  async stop(drainMs?: number): Promise<void> {
    this.stopped = true;
    this.backoff.cancel();
    const client = this.client;
    this.client = undefined;
    this.window.releaseAll();
    if (drainMs === undefined) {
      const dropped = this.acks.close();
      if (dropped > 0)
        this.logger.warn(`${dropped} received MQTT messages are left unacknowledged for the next holder`);
      client?.end(true);
      return;
    }
    if (!(await this.acks.settled(drainMs))) {
      this.logger.warn(
        `${this.acks.pending} MQTT messages were not committed in time and were not acknowledged: the broker will send them again`,
      );
    }
    if (client) await client.endAsync();
  }

  /**
   * Makes the client's PUBACKs wait for CommitAcks. MQTT.js has no public way
   * to acknowledge later than `handleMessage` (MQTT.js issues #209, #691), so
   * its one internal send path is wrapped; the pinned major version is tested
   * by the external-broker suite.
   */
  private holdAcknowledgements(client: MqttClient): void {
    const internal = client as unknown as { _sendPacket: SendPacket };
    const send = internal._sendPacket.bind(client);
    internal._sendPacket = (packet, cb, ...rest) => {
      const acks = this.acks;
      if (packet.cmd === 'puback' && typeof packet.messageId === 'number') {
        // Sent on this connection once committed (or never, if the connection goes first).
        if (acks.defer(packet.messageId, () => client.connected && send(packet))) return cb?.();
      }
      return send(packet, cb, ...rest);
    };
  }

  private clientOptions(): IClientOptions {
    const { clean, clientId } = this.options;
    return {
      protocolVersion: this.protocolVersion,
      clientId: clientId.slice(0, 128),
      clean,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      username: this.config.mqtt.username,
      password: this.config.mqtt.password,
      properties:
        this.protocolVersion === 5
          ? {
              // How many QoS 1 messages the broker may send before the bridge acknowledges one.
              receiveMaximum: this.config.mqtt.maxInFlight,
              ...(clean ? {} : { sessionExpiryInterval: SESSION_EXPIRY_SEC }),
            }
          : undefined,
      ...externalTlsOptions(this.config.mqtt.externalTls),
    };
  }

  private connectClient(handler: MessageHandler | undefined, started: () => void): void {
    const client = connect(this.config.mqtt.url ?? '', this.clientOptions());
    this.client = client;
    this.holdAcknowledgements(client);
    let startedOnce = false;
    const markStarted = (): void => {
      if (!startedOnce) {
        startedOnce = true;
        started();
      }
    };
    const fence = this.options.fence;

    client.handleMessage = (packet: Packet, callback: (error?: Error) => void): void => {
      if (packet.cmd !== 'publish' || handler === undefined) return callback();
      // Stopping: a message that comes in now is neither ingested nor acknowledged (calling back would send
      // its PUBACK), so the broker sends it again to the next connection. Reading waits until the end.
      if (this.stopped) return;
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const out = this.window.enter();
      // The subscription is QoS 1: what the broker sends is QoS 0 or 1.
      const committed = packet.qos > 0 && packet.messageId !== undefined ? this.acks.hold(packet.messageId) : undefined;
      handler({ topic: packet.topic, payload, fence }, (acknowledge = true) => {
        out();
        if (acknowledge) committed?.();
      });
      this.window.proceed(() => callback());
    };

    let wasConnected = false;
    client.on('connect', () => {
      wasConnected = true;
      this.acks.close();
      this.acks = new CommitAcks();
      this.subscribed = false;
      this.backoff.reset();
      const subscription = this.options.subscription;
      this.logger.log(
        `Connected to ${this.broker} (MQTT ${this.protocolVersion === 5 ? '5' : '3.1.1'}) as ${this.options.clientId}${subscription ? `, subscribing to ${subscription}` : ''}`,
      );
      if (subscription === undefined) return markStarted();
      client.subscribe(subscription, { qos: 1 }, (err, granted) => {
        const refused = granted?.some((g) => g.qos >= 128) === true;
        if (err || refused) {
          this.logger.error(`Subscribing to ${subscription} failed: ${err ? err.message : 'refused by the broker'}`);
        } else this.subscribed = true;
        markStarted();
      });
    });
    client.on('disconnect', (packet: { reasonCode?: number }) => {
      if (packet.reasonCode === SESSION_TAKEN_OVER) this.options.onTakenOver?.();
    });
    client.on('error', (err: Error & { code?: number }) => {
      if (this.protocolVersion === 5 && typeof err.code === 'number' && UNSUPPORTED_PROTOCOL.has(err.code)) {
        this.logger.warn(`${this.broker} does not offer MQTT 5: using MQTT 3.1.1`);
        this.protocolVersion = 4;
        client.removeAllListeners();
        client.end(true);
        this.connectClient(handler, markStarted);
        return;
      }
      this.attempts.log('error', `MQTT broker ${this.broker}: ${err.message}`);
    });
    client.on('close', () => {
      this.subscribed = false;
      // Unacknowledged messages are the broker's again: it sends them on the next connection (persistent
      // session), to the lease's next holder, or to another member of the share group.
      const dropped = this.acks.close();
      if (dropped > 0)
        this.logger.warn(`${dropped} received MQTT messages were not acknowledged before the connection closed`);
      if (this.stopped || this.client !== client) return;
      if (client.disconnecting) return;
      const delay = this.backoff.schedule(() => void this.reconnect(client));
      // A disconnect is counted once, not once per attempt while the broker stays away.
      if (wasConnected) {
        wasConnected = false;
        this.disconnects++;
        this.metrics.mqttReconnects.inc();
        this.logger.warn(
          `Disconnected from ${this.broker} (${this.disconnects} disconnects so far); reconnecting in ${delay} ms`,
        );
      } else {
        this.attempts.log(
          'reconnect',
          `Still no connection to ${this.broker} after ${this.backoff.attempts} attempts; next in ${delay} ms`,
        );
      }
      markStarted();
    });
  }

  private async reconnect(client: MqttClient): Promise<void> {
    if (this.stopped || this.client !== client) return;
    const may = this.options.mayReconnect ? await this.options.mayReconnect().catch(() => false) : true;
    if (!may) {
      // The session belongs to another holder now: connecting would take it back.
      this.stopped = true;
      this.client = undefined;
      client.end(true);
      return;
    }
    if (!this.stopped && this.client === client) client.reconnect();
  }
}

/**
 * What `mqtt.connect` takes for TLS to the external broker (issue #13): the
 * files' contents, read when the client is made (at start), and
 * `rejectUnauthorized`. Nothing for a broker without TLS settings, so Node's
 * CA list and checks apply.
 */
export function externalTlsOptions(
  tls: ExternalTlsConfig | undefined,
): Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'> {
  if (tls === undefined) return {};
  const read = (path: string | undefined): Buffer | undefined => (path === undefined ? undefined : readFileSync(path));
  return {
    ...(tls.caFile === undefined ? {} : { ca: read(tls.caFile) }),
    ...(tls.certFile === undefined ? {} : { cert: read(tls.certFile), key: read(tls.keyFile) }),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import type { IClientOptions, MqttClient, Packet } from 'mqtt';
import { connect } from 'mqtt';
import type { AppConfig, ExternalTlsConfig } from '../config/app-config';
import type { MetricsService } from '../observability/metrics.service';
import { CommitAcks } from './commit-acks';
import type { InboundMessage } from './mqtt-transport';
import { InFlightWindow } from './in-flight-window';
import { MqttTransport } from './mqtt-transport';
import { RateLimitedLog } from './rate-limited-log';
import { Backoff } from '../common/backoff';

/** Longest wait at shutdown for received messages to be committed and acknowledged. */
const DRAIN_TIMEOUT_MS = 10_000;
/** Session kept by the broker while a lone bridge reconnects (MQTT 5 session expiry, seconds). */
const SESSION_EXPIRY_SEC = 3600;
type SendPacket = (packet: Packet & { messageId?: number }, cb?: (error?: Error) => void, ...rest: unknown[]) => void;

/** CONNACK codes meaning "this broker does not speak MQTT 5": fall back to 3.1.1. */
const UNSUPPORTED_PROTOCOL = new Set([1, 132]);

/**
 * An MQTT.js client of the broker at `MQTT_URL` (Mosquitto, EMQX, …). MQTT 5
 * where the broker offers it, 3.1.1 otherwise. Reconnects forever with capped,
 * jittered backoff (Backoff) and subscribes again on every connect.
 *
 * Sessions: alone, the bridge keeps a persistent session so QoS 1 messages
 * sent while it reconnects are queued by the broker. With `MQTT_SHARE_GROUP`
 * it subscribes to `$share/{group}/{prefix}/#`, on a clean session unless
 * `MQTT_CLIENT_ID` names the instance (issue #11, item 2):
 * - clean: the broker hands a killed instance's share to the others at once,
 *   but the messages it had sent that instance and not had acknowledged die
 *   with the session (Mosquitto sends them to nobody).
 * - persistent, under the configured id: those messages are sent again when
 *   the instance comes back under the same id. Meanwhile Mosquitto goes on
 *   queueing the instance's share of new messages for it (its round robin
 *   skips no member); if it never comes back they are lost when the session
 *   expires (SESSION_EXPIRY_SEC). EMQX instead hands an ended session's
 *   unacknowledged messages to the other members. So an instance is named
 *   only where it is certain to come back under its name (a StatefulSet, a
 *   systemd unit), never two instances under one name.
 *
 * Acknowledgements (issue #11): a QoS 1 message is acknowledged to the broker
 * only once its event is committed. MQTT.js writes the PUBACK as soon as
 * `handleMessage` calls back and reads the next packet only after that, so
 * `handleMessage` calls back at once (while the InFlightWindow has room) and
 * the PUBACK is held by CommitAcks until the commit.
 */
export class ExternalBrokerTransport extends MqttTransport {
  private readonly logger = new Logger('MqttClient');
  private readonly backoff = new Backoff();
  /** Connection errors and failed attempts: one line of each per 30 s while the broker stays away. */
  private readonly attempts = new RateLimitedLog((line) => this.logger.warn(line), 30_000);
  private client: MqttClient | undefined;
  private protocolVersion: 4 | 5 = 5;
  private stopped = false;
  /**
   * Messages handed to ingestion and not yet logged, at most
   * (`MQTT_MAX_IN_FLIGHT`); also the Receive Maximum asked of an MQTT 5
   * broker: how many QoS 1 messages it may send before the bridge acknowledges one.
   */
  private readonly window: InFlightWindow;
  private disconnects = 0;
  private subscribed = false;
  /** The current connection's acknowledgements waiting for the log. */
  private acks = new CommitAcks();

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    super();
    this.window = new InFlightWindow(config.mqtt.maxInFlight);
  }

  /** Connected and subscribed: ingesting. /health reports the broker up only then. */
  get connected(): boolean {
    return this.client?.connected === true && this.subscribed;
  }

  get subscription(): string {
    const all = `${this.config.mqtt.topicPrefix}/#`;
    return this.config.mqtt.shareGroup ? `$share/${this.config.mqtt.shareGroup}/${all}` : all;
  }

  describe(): { external: string } {
    const url = new URL(this.config.mqtt.url ?? '');
    url.username = '';
    url.password = '';
    return { external: url.toString() };
  }

  async start(handler: (message: InboundMessage, done: () => void) => void): Promise<void> {
    if (this.config.mqtt.externalTls?.rejectUnauthorized === false) {
      this.logger.warn(`MQTT_REJECT_UNAUTHORIZED=false: any certificate is taken for ${this.describe().external}`);
    }
    await new Promise<void>((resolve) => {
      this.connectClient(handler, resolve);
    });
  }

  publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.connected) {
      return Promise.reject(new Error(`the MQTT broker ${this.describe().external} is not connected`));
    }
    return client.publishAsync(topic, payload, { qos }).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.backoff.cancel();
    const client = this.client;
    this.client = undefined;
    this.window.releaseAll();
    if (!(await this.acks.settled(DRAIN_TIMEOUT_MS))) {
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

  /**
   * One client for the life of the transport. The first start resolves on the
   * first connect or the first failure: the service starts (and /health says
   * the broker is down) rather than waiting for a broker that may come later.
   */
  private connectClient(handler: (message: InboundMessage, done: () => void) => void, started: () => void): void {
    const named = this.config.mqtt.clientId;
    // A clean session only for an unnamed member of a share group (see the class comment).
    const clean = this.config.mqtt.shareGroup !== undefined && named === undefined;
    const options: IClientOptions = {
      protocolVersion: this.protocolVersion,
      // Stable across restarts when alone (the broker resumes its session): the same host, topic prefix
      // and data directory make the same bridge, two bridges on one host never share a session. Unique
      // per process in a group, unless configured.
      clientId: (
        named ??
        (clean
          ? `devicehub-${hostname()}-${this.config.http.port}-${process.pid}`
          : `devicehub-bridge-${hostname()}-${this.config.mqtt.topicPrefix}-${createHash('sha256')
              .update(`${resolve(this.config.dataDir)}:${this.config.http.port}`)
              .digest('hex')
              .slice(0, 12)}`)
      ).slice(0, 128),
      clean,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      username: this.config.mqtt.username,
      password: this.config.mqtt.password,
      properties:
        this.protocolVersion === 5
          ? {
              receiveMaximum: this.config.mqtt.maxInFlight,
              ...(clean ? {} : { sessionExpiryInterval: SESSION_EXPIRY_SEC }),
            }
          : undefined,
      ...externalTlsOptions(this.config.mqtt.externalTls),
    };
    const client = connect(this.config.mqtt.url ?? '', options);
    this.client = client;
    this.holdAcknowledgements(client);
    let startedOnce = false;
    const markStarted = (): void => {
      if (!startedOnce) {
        startedOnce = true;
        started();
      }
    };

    client.handleMessage = (packet: Packet, callback: (error?: Error) => void): void => {
      if (packet.cmd !== 'publish') return callback();
      // Stopping: a message that comes in now is neither ingested nor acknowledged (calling back would send
      // its PUBACK), so the broker sends it again to the next connection. Reading waits until the end.
      if (this.stopped) return;
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const out = this.window.enter();
      // The subscription is QoS 1: what the broker sends is QoS 0 or 1.
      const committed = packet.qos > 0 && packet.messageId !== undefined ? this.acks.hold(packet.messageId) : undefined;
      handler({ topic: packet.topic, payload }, () => {
        out();
        committed?.();
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
      this.logger.log(
        `Connected to ${this.describe().external} (MQTT ${this.protocolVersion === 5 ? '5' : '3.1.1'}), subscribing to ${this.subscription}`,
      );
      client.subscribe(this.subscription, { qos: 1 }, (err, granted) => {
        const refused = granted?.some((g) => g.qos >= 128) === true;
        if (err || refused) {
          this.logger.error(
            `Subscribing to ${this.subscription} failed: ${err ? err.message : 'refused by the broker'}`,
          );
        } else this.subscribed = true;
        markStarted();
      });
    });
    client.on('error', (err: Error & { code?: number }) => {
      if (this.protocolVersion === 5 && typeof err.code === 'number' && UNSUPPORTED_PROTOCOL.has(err.code)) {
        this.logger.warn(`${this.describe().external} does not offer MQTT 5: using MQTT 3.1.1`);
        this.protocolVersion = 4;
        client.removeAllListeners();
        client.end(true);
        this.connectClient(handler, markStarted);
        return;
      }
      this.attempts.log('error', `MQTT broker ${this.describe().external}: ${err.message}`);
    });
    client.on('close', () => {
      this.subscribed = false;
      // Unacknowledged messages are the broker's again: it sends them on the next connection (persistent
      // session) or to another member of the share group.
      const dropped = this.acks.close();
      if (dropped > 0)
        this.logger.warn(`${dropped} received MQTT messages were not acknowledged before the connection closed`);
      if (this.stopped || this.client !== client) return;
      if (client.disconnecting) return;
      const delay = this.backoff.schedule(() => {
        if (!this.stopped && this.client === client) client.reconnect();
      });
      // A disconnect is counted once, not once per attempt while the broker stays away.
      if (wasConnected) {
        wasConnected = false;
        this.disconnects++;
        this.metrics.mqttReconnects.inc();
        this.logger.warn(
          `Disconnected from ${this.describe().external} (${this.disconnects} disconnects so far); reconnecting in ${delay} ms`,
        );
      } else {
        this.attempts.log(
          'reconnect',
          `Still no connection to ${this.describe().external} after ${this.backoff.attempts} attempts; next in ${delay} ms`,
        );
      }
      markStarted();
    });
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

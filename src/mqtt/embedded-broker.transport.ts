import type { AddressInfo, Server } from 'node:net';
import { createServer } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { Aedes } from 'aedes';
import type { Client, PublishPacket } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { OriginPolicy } from '../auth/origin-policy';
import type { AppConfig } from '../config/app-config';
import type { UpgradeRouter } from '../common/upgrade-router';
import type { CredentialsService } from './credentials.service';
import type { InboundMessage } from './mqtt-transport';
import { MqttTransport } from './mqtt-transport';
import { BrokerIdentities } from './broker-identities';
import { CommitAcks } from './commit-acks';
import type { EmbeddedIngest, IncomingStore } from './embedded-ingest';
import { ingestPublish } from './embedded-ingest';
import { InFlightWindow } from './in-flight-window';
import { listenOrExplain } from './listen';
import { RateLimitedLog } from './rate-limited-log';
import { TlsListener } from './tls-listener';
import { guardPacketSize } from './packet-size-guard';

/**
 * Messages the broker hands to subscribers at once before it queues more
 * (mqemitter's concurrency). @default 1000
 */
const BROKER_CONCURRENCY = 1000;
/** Longest wait at shutdown for received messages to be committed and acknowledged. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * The embedded broker (aedes: MQTT 3.1 and 3.1.1, not 5) when `MQTT_URL`
 * is unset: TCP on `MQTT_PORT`, MQTT over WebSocket at `/mqtt` on the HTTP
 * port, `mqtts://` and `wss://…/mqtt` on `MQTT_TLS_PORT` when set
 * (tls-listener.ts), per-device and gateway credentials or device
 * certificates with the topic ACL and client ids bound to them
 * (broker-identities.ts), and the
 * bridge's own ingestion taking each client message as the broker authorises
 * it (no socket, no subscription). A QoS 1 message is acknowledged only once
 * its event is committed (issue #11): aedes gets it as QoS 0, so it writes no
 * PUBACK and reads on, and the PUBACK is written here at the commit (see
 * docs/architecture.md).
 */
export class EmbeddedBrokerTransport extends MqttTransport {
  private readonly logger = new Logger('MqttBroker');
  private readonly denials = new RateLimitedLog((line) => this.logger.warn(line));
  /** Who each client is, and what it may publish and subscribe to (broker-identities.ts). */
  private readonly identities: BrokerIdentities;
  private readonly connectListeners: ((deviceType: string, deviceId: string) => void)[] = [];
  private broker: Aedes | undefined;
  private tcp: Server | undefined;
  private wss: WebSocketServer | undefined;
  /** QoS 1 and 2 messages handed to ingestion whose acknowledgement waits for the log. */
  private readonly acks = new CommitAcks<object>();
  /**
   * QoS 0 messages handed to ingestion and not yet logged, at most
   * `MQTT_MAX_IN_FLIGHT`: aedes reads a client's next packets once ingestion
   * hands the previous ones back, which it does at once for QoS 0 while fewer
   * than this many wait for the log. QoS 1 and 2 wait for their commit (CommitAcks).
   */
  private readonly window: InFlightWindow;
  /** Set once started: where device messages go, with what acknowledges them. */
  private ingest: EmbeddedIngest | undefined;
  /** Set once stop() begins: no client message is accepted (or acknowledged) any more. */
  private draining = false;
  private tcpAddress: AddressInfo | undefined;
  private tls: TlsListener | undefined;
  private tlsAddress: AddressInfo | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly upgrades: UpgradeRouter,
    private readonly credentials: CredentialsService,
    private readonly http: HttpAdapterHost,
  ) {
    super();
    this.window = new InFlightWindow(config.mqtt.maxInFlight);
    this.identities = new BrokerIdentities(config, credentials, this.denials, this.logger);
  }

  get connected(): boolean {
    return this.broker !== undefined && !this.broker.closed && this.tcp?.listening === true;
  }

  async start(handler: (message: InboundMessage, done: () => void) => void): Promise<void> {
    const broker = new Aedes({
      concurrency: BROKER_CONCURRENCY,
      // Device ids are up to 128 characters; MQTT 3.1's 23 is too tight for `{type}/{id}` client ids.
      maxClientsIdLength: 256,
      preConnect: (client, packet, done) => done(null, this.identities.preConnect(client, packet)),
      authenticate: (client, username, password, done) =>
        this.identities.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => done(null, this.identities.authorizeSubscribe(client, sub)),
    });
    broker.on('clientError', (client, err) => this.logger.debug(`Client ${client.id}: ${err.message}`));
    broker.on('connectionError', (_client, err) => this.logger.debug(`Connection: ${err.message}`));
    await broker.listen();
    this.broker = broker;
    // aedes' persistence is public at run time; its typings leave it out.
    const store = (broker as unknown as { persistence: IncomingStore }).persistence;
    this.ingest = { acks: this.acks, window: this.window, store, ingest: handler };
    broker.on('clientReady', (client) => {
      const who = this.identities.of(client);
      if (who.kind === 'device') for (const listener of this.connectListeners) listener(who.deviceType, who.deviceId);
    });

    // Big enough that an oversized MQTT payload still reaches ingestion and is counted as a reject;
    // far bigger frames close the socket (1009) instead of filling memory.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.maxPacketBytes });
    try {
      this.tcpAddress = await this.listenTcp(broker);
      if (this.config.mqtt.tls !== undefined) {
        this.tls = new TlsListener(
          this.config.mqtt.tls,
          {
            mqtt: (socket) => this.handle(broker, socket),
            upgrade: (req, socket, head) => this.upgradeWebSocket(req, socket, head),
          },
          new OriginPolicy(this.config),
        );
        this.tlsAddress = await this.tls.listen(this.config.http.host);
      }
    } catch (err) {
      await this.tls?.close();
      await new Promise<void>((resolve) => (this.tcp?.listening ? this.tcp.close(() => resolve()) : resolve()));
      await new Promise<void>((resolve) => broker.close(resolve));
      this.broker = undefined;
      throw err;
    }
    this.upgrades.register(
      (pathname) => pathname === '/mqtt',
      (req, socket, head) => this.upgradeWebSocket(req, socket, head),
    );
    this.logger.log(`Embedded MQTT broker on ${Object.values(this.describe()).join(', ')}`);
  }

  publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    const broker = this.broker;
    if (broker === undefined || broker.closed)
      return Promise.reject(new Error('the embedded MQTT broker is not running'));
    const packet: PublishPacket = {
      cmd: 'publish',
      topic,
      payload: Buffer.from(payload),
      qos,
      retain: false,
      dup: false,
    };
    return new Promise((resolve, reject) => broker.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  /** Devices connecting with their own credentials; a gateway or an anonymous client is no one device. */
  override onDeviceConnect(listener: (deviceType: string, deviceId: string) => void): void {
    this.connectListeners.push(listener);
  }

  describe(): { tcp?: string; websocket?: string; tls?: string; secureWebsocket?: string } {
    const host =
      this.config.http.host === '0.0.0.0' || this.config.http.host === '::' ? '127.0.0.1' : this.config.http.host;
    const server = this.http.httpAdapter?.getHttpServer() as Server | undefined;
    const address = server?.address();
    const httpPort = address !== null && typeof address === 'object' ? address.port : this.config.http.port;
    const tlsPort = this.tlsAddress?.port ?? this.config.mqtt.tls?.port;
    return {
      tcp: `mqtt://${host}:${this.tcpAddress?.port ?? this.config.mqtt.port}`,
      websocket: `ws://${host}:${httpPort}/mqtt`,
      ...(tlsPort === undefined
        ? {}
        : { tls: `mqtts://${host}:${tlsPort}`, secureWebsocket: `wss://${host}:${tlsPort}/mqtt` }),
    };
  }

  /**
   * Stops without leaving a sender in doubt: no new connections, then no new
   * messages (refused before their PUBACK, so their senders send them again
   * to the next broker), then the messages being committed are acknowledged,
   * and only then does the broker close. A message whose commit does not come
   * in time is not acknowledged either: its sender keeps it.
   */
  async stop(): Promise<void> {
    const broker = this.broker;
    if (broker === undefined) return;
    this.broker = undefined;
    const tcpClosed = new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    const tlsClosed = this.tls?.close();
    this.wss?.close();
    this.draining = true;
    // Every message in the window is ingestion's already; what aedes still holds is refused now.
    this.window.releaseAll();
    if (!(await this.acks.settled(DRAIN_TIMEOUT_MS))) {
      this.logger.warn(
        `${this.acks.pending} MQTT messages were not committed in time and were not acknowledged: their senders will send them again`,
      );
    }
    await new Promise<void>((resolve) => broker.close(resolve));
    await Promise.all([tcpClosed, tlsClosed]);
  }

  private listenTcp(broker: Aedes): Promise<AddressInfo> {
    const { port } = this.config.mqtt;
    // No Nagle: a PUBACK written at a commit, or a message to a subscriber, goes at once rather than
    // waiting for the peer's ACK of the previous small write (net servers leave Nagle on; HTTP's turn it off).
    this.tcp = createServer({ noDelay: true }, (socket) => this.handle(broker, socket));
    return listenOrExplain(
      this.tcp,
      port,
      this.config.http.host,
      (code) =>
        `MQTT port ${port} on ${this.config.http.host} is ${code === 'EADDRINUSE' ? 'already in use (another MQTT broker, such as Mosquitto, may hold it)' : 'not permitted'}.\n` +
        `Either set MQTT_PORT to a free port for the embedded broker (0 picks one),\n` +
        `or set MQTT_URL=mqtt://127.0.0.1:${port} to use the broker that holds it instead.`,
    );
  }

  private upgradeWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const broker = this.broker;
    const wss = this.wss;
    if (broker === undefined || wss === undefined) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', (err) => this.logger.debug(`MQTT over WebSocket: ${err.message}`));
      this.handle(broker, stream, req);
    });
  }

  /** Big enough that an oversized payload still reaches ingestion and is counted as a reject. */
  private get maxPacketBytes(): number {
    return 2 * this.config.maxMessageSize + 65_536;
  }

  /** Every connection, on every listener: no packet may be longer than maxPacketBytes (packet-size-guard.ts). */
  private handle(broker: Aedes, conn: Duplex, req?: IncomingMessage): void {
    broker.handle(conn, req);
    guardPacketSize(conn, this.maxPacketBytes, (length) =>
      this.denials.log(
        'packet-size',
        `Closed an MQTT connection that announced a ${length}-byte packet (at most ${this.maxPacketBytes}, twice MAX_MESSAGE_SIZE and 64 KB)`,
      ),
    );
  }

  /**
   * MQTT 3.1.1 cannot tell a publisher it was refused: the broker must either
   * acknowledge and drop, or close the connection (MQTT-3.3.5-2). Closing makes
   * a device publishing where it must not see it at once.
   */
  private authorizePublish(client: Client | null, packet: PublishPacket, done: (error: Error | null) => void): void {
    // Without a client: the bridge's own commands, and wills of sessions the broker kept; never device input.
    if (client === null) return done(null);
    // Refused before its PUBACK, so the sender keeps it and sends it again to the next broker.
    if (this.draining) return done(new Error('the broker is shutting down'));
    if (!this.identities.canPublish(client, packet.topic))
      return done(new Error(`publishing on ${packet.topic} is not allowed`));
    const into = this.ingest;
    if (into === undefined || !packet.topic.startsWith(`${this.config.mqtt.topicPrefix}/`)) return done(null);
    const message = {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
    };
    ingestPublish(into, client, packet, message, done);
  }
}

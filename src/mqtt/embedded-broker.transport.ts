import type { AddressInfo, Server } from 'node:net';
import { createServer } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { Aedes } from 'aedes';
import type { AedesPublishPacket, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { AppConfig } from '../config/app-config';
import type { UpgradeRouter } from '../common/upgrade-router';
import { clientCertificateOf, decideByCertificate } from './client-certificate';
import type { CredentialsService } from './credentials.service';
import type { InboundMessage } from './mqtt-transport';
import { MqttTransport } from './mqtt-transport';
import { AcceptedMessages } from './accepted-messages';
import { InFlightWindow } from './in-flight-window';
import { listenOrExplain } from './listen';
import { RateLimitedLog } from './rate-limited-log';
import type { MqttIdentity } from './topic-acl';
import { TopicAcl } from './topic-acl';
import { TlsListener } from './tls-listener';

/**
 * Messages the broker hands to subscribers at once before it queues more
 * (mqemitter's concurrency). @default 1000
 */
const BROKER_CONCURRENCY = 1000;
/**
 * Messages handed to ingestion and not yet logged, at most (InFlightWindow):
 * aedes reads a client's next packets once ingestion hands the previous ones
 * back, which it does at once while fewer than this many wait for the log.
 * aedes acknowledges QoS 1 on acceptance either way (see AcceptedMessages).
 */
const MAX_IN_FLIGHT = 10_000;
/** CONNACK return codes of MQTT 3.1.1. */
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;
/** Longest wait at shutdown for accepted messages to reach the log. */
const DRAIN_TIMEOUT_MS = 10_000;

type Deliver = (packet: AedesPublishPacket, done: () => void) => void;

/**
 * The embedded broker (aedes, MQTT 3.1.1) when `MQTT_URL` is unset: TCP on
 * `MQTT_PORT`, MQTT over WebSocket at `/mqtt` on the HTTP port, `mqtts://` and
 * `wss://…/mqtt` on `MQTT_TLS_PORT` when set (tls-listener.ts), per-device
 * and gateway credentials or device certificates with the topic ACL, and the bridge's own ingestion
 * subscribed in-process (no socket). aedes acknowledges a QoS 1 message when
 * it accepts it; `stop` makes sure every accepted message is logged before
 * the broker goes.
 */
export class EmbeddedBrokerTransport extends MqttTransport {
  private readonly logger = new Logger('MqttBroker');
  private readonly denials = new RateLimitedLog((line) => this.logger.warn(line));
  private readonly acl: TopicAcl;
  private readonly identities = new WeakMap<Client, MqttIdentity>();
  /** Live sessions by username, so a rotated password ends them. */
  private readonly sessions = new Map<string, Set<Client>>();
  private broker: Aedes | undefined;
  private tcp: Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly accepted = new AcceptedMessages<Client>();
  private readonly window = new InFlightWindow(MAX_IN_FLIGHT);
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
    this.acl = new TopicAcl(config.mqtt.topicPrefix);
    credentials.onRevoke((username) => this.endSessions(username));
  }

  get connected(): boolean {
    return this.broker !== undefined && !this.broker.closed && this.tcp?.listening === true;
  }

  async start(handler: (message: InboundMessage, done: () => void) => void): Promise<void> {
    const broker = new Aedes({
      concurrency: BROKER_CONCURRENCY,
      // Device ids are up to 128 characters; MQTT 3.1's 23 is too tight for `{type}-{id}` client ids.
      maxClientsIdLength: 256,
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => done(this.authorizePublish(client, packet)),
      authorizeSubscribe: (client, sub, done) => done(null, this.authorizeSubscribe(client, sub)),
    });
    broker.on('clientError', (client, err) => this.logger.debug(`Client ${client.id}: ${err.message}`));
    broker.on('connectionError', (_client, err) => this.logger.debug(`Connection: ${err.message}`));
    await broker.listen();
    this.broker = broker;

    const deliver: Deliver = (packet, done) => {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      handler({ topic: packet.topic, payload }, this.window.enter());
      this.window.proceed(done);
    };
    // Fired once every subscriber, ingestion included, has a client's message: see AcceptedMessages.
    broker.on('publish', (_packet, client) => {
      if (client) this.accepted.handOn(client);
    });
    broker.on('clientDisconnect', (client) => this.accepted.gone(client));
    await new Promise<void>((resolve) => broker.subscribe(`${this.config.mqtt.topicPrefix}/#`, deliver, resolve));

    // Big enough that an oversized MQTT payload still reaches ingestion and is counted as a reject;
    // far bigger frames close the socket (1009) instead of filling memory.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 2 * this.config.maxMessageSize + 65_536 });
    try {
      this.tcpAddress = await this.listenTcp(broker);
      if (this.config.mqtt.tls !== undefined) {
        this.tls = new TlsListener(this.config.mqtt.tls, {
          mqtt: (socket) => broker.handle(socket),
          upgrade: (req, socket, head) => this.upgradeWebSocket(req, socket, head),
        });
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
   * Stops without dropping a message a client was told had arrived: no new
   * connections, then no new messages (the last wills of the sessions ended
   * below included), then every accepted message reaches the log, and only
   * then does the broker close. Unsubscribing ingestion first, or closing
   * at once, would drop acknowledged messages (see AcceptedMessages).
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
    if (!(await this.accepted.settled(DRAIN_TIMEOUT_MS))) {
      this.logger.warn(`${this.accepted.pending} accepted MQTT messages never reached ingestion (their senders left)`);
    }
    await new Promise<void>((resolve) => broker.close(resolve));
    await Promise.all([tcpClosed, tlsClosed]);
  }

  private listenTcp(broker: Aedes): Promise<AddressInfo> {
    const { port } = this.config.mqtt;
    this.tcp = createServer((socket) => broker.handle(socket));
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
      broker.handle(stream, req);
    });
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const tls = this.config.mqtt.tls;
    const certificate = tls === undefined ? undefined : clientCertificateOf(client);
    if (tls !== undefined && certificate !== undefined) {
      const decision = decideByCertificate(certificate, username, tls.clientCerts);
      if (decision.kind === 'refused') {
        this.denials.log('certificate', `Refused MQTT client ${client.id}: ${decision.reason}`);
        return done(refusal(`Not authorized: ${decision.reason}`, NOT_AUTHORIZED), false);
      }
      if (decision.kind === 'device') {
        this.identities.set(client, decision.identity);
        return done(null, true);
      }
    }
    if (username === undefined || username === '') {
      if (!this.config.mqtt.deviceAuth) {
        this.identities.set(client, { kind: 'anonymous' });
        return done(null, true);
      }
      this.denials.log('anonymous', `Refused anonymous MQTT client ${client.id} (DEVICE_AUTH=required)`);
      return done(refusal('Not authorized: credentials are required (DEVICE_AUTH=required)', NOT_AUTHORIZED), false);
    }
    this.credentials.authenticate(username, password ?? Buffer.alloc(0)).then(
      (identity) => {
        if (identity === undefined || identity.kind === 'anonymous') {
          this.denials.log('credentials', `Refused MQTT client ${client.id}: bad username or password for ${username}`);
          return done(refusal('Bad username or password', BAD_USERNAME_OR_PASSWORD), false);
        }
        this.identities.set(client, identity);
        let sessions = this.sessions.get(identity.username);
        if (sessions === undefined) this.sessions.set(identity.username, (sessions = new Set()));
        sessions.add(client);
        client.conn.once('close', () => {
          sessions.delete(client);
          if (sessions.size === 0 && this.sessions.get(identity.username) === sessions)
            this.sessions.delete(identity.username);
        });
        done(null, true);
      },
      (err: unknown) => done(refusal(`Authentication failed: ${String(err)}`, NOT_AUTHORIZED), false),
    );
  }

  /**
   * MQTT 3.1.1 cannot tell a publisher it was refused: the broker must either
   * acknowledge and drop, or close the connection (MQTT-3.3.5-2). Closing makes
   * a device publishing where it must not see it at once.
   */
  private authorizePublish(client: Client | null, packet: PublishPacket): Error | null {
    // Last wills of sessions from before a restart have no client: they were authorised when given.
    if (client === null) return null;
    // Refused before its PUBACK, so the sender keeps it and sends it again to the next broker.
    if (this.draining) return new Error('the broker is shutting down');
    const who = this.identities.get(client) ?? { kind: 'anonymous' };
    if (this.acl.canPublish(who, packet.topic)) {
      this.accepted.accept(client);
      return null;
    }
    this.denials.log(
      'publish',
      `Closed MQTT client ${client.id} (${describeWho(who)}): publishing on ${packet.topic} is not allowed`,
    );
    return new Error(`publishing on ${packet.topic} is not allowed`);
  }

  /** A refused subscription is answered with SUBACK 0x80 (failure); the connection stays. */
  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const who = this.identities.get(client) ?? { kind: 'anonymous' };
    if (this.acl.canSubscribe(who, sub.topic)) return sub;
    this.denials.log(
      'subscribe',
      `Refused MQTT client ${client.id} (${describeWho(who)}) the subscription ${sub.topic}`,
    );
    return null;
  }

  private endSessions(username: string): void {
    const sessions = this.sessions.get(username);
    if (sessions === undefined) return;
    this.logger.log(`Closing ${sessions.size} MQTT session(s) of ${username}: its password was rotated`);
    for (const client of sessions) client.close();
    this.sessions.delete(username);
  }
}

function refusal(message: string, returnCode: number): AuthenticateError {
  const error: AuthenticateError = Object.assign(new Error(message), { returnCode });
  return error;
}

function describeWho(who: MqttIdentity): string {
  return who.kind === 'anonymous' ? 'anonymous' : `${who.kind} ${who.username}`;
}

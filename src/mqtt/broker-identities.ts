import type { Logger } from '@nestjs/common';
import type { AuthenticateError, Client, ConnectPacket, Subscription } from 'aedes';
import type { AppConfig } from '../config/app-config';
import { clientCertificateOf, decideByCertificate } from './client-certificate';
import type { CredentialsService } from './credentials.service';
import type { RateLimitedLog } from './rate-limited-log';
import type { MqttIdentity } from './topic-acl';
import { TopicAcl } from './topic-acl';

/** CONNACK return codes of MQTT 3.1.1. */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

type AuthenticateDone = (error: AuthenticateError | null, success: boolean | null) => void;

/**
 * Who each client of the embedded broker is, and what that lets it do: the
 * broker's `preConnect`, `authenticate` and `authorizeSubscribe`, and the
 * ACL half of `authorizePublish` (issues #2, #13, #18). A client is a device
 * (by password or certificate), a gateway, or anonymous (`DEVICE_AUTH=off`);
 * its client id must be its own username, so that it cannot take over
 * another client's session; a rotated password ends the sessions of its
 * username. Refusals are logged, rate-limited, through `denials`.
 */
export class BrokerIdentities {
  private readonly acl: TopicAcl;
  private readonly identities = new WeakMap<Client, MqttIdentity>();
  /** Clients that sent an empty client id: aedes gave them a fresh random one, which is theirs. */
  private readonly assignedIds = new WeakSet<Client>();
  /** Live sessions by username, so a rotated password ends them. */
  private readonly sessions = new Map<string, Set<Client>>();

  constructor(
    private readonly config: AppConfig,
    private readonly credentials: CredentialsService,
    private readonly denials: RateLimitedLog,
    private readonly logger: Logger,
  ) {
    this.acl = new TopicAcl(config.mqtt.topicPrefix);
    credentials.onRevoke((username) => this.endSessions(username));
  }

  /** Who the client authenticated as; anonymous before (or without) that. */
  of(client: Client): MqttIdentity {
    return this.identities.get(client) ?? { kind: 'anonymous' };
  }

  /**
   * Before aedes looks at the CONNECT. aedes speaks MQTT 3.1 and 3.1.1 only
   * and answers any other protocol level with CONNACK 1 ("unacceptable
   * protocol version", MQTT-3.1.2-2); this says so in the log too, with the
   * way out, since most device SDKs now default to MQTT 5 (issue #18).
   */
  preConnect(client: Client, packet: ConnectPacket): boolean {
    // mqtt-packet parses levels 3, 4 and 5 only; aedes then refuses 5.
    if (packet.protocolVersion === 5) {
      this.denials.log(
        'protocol',
        `Refused MQTT client ${packet.clientId || '(no id)'}: it speaks MQTT 5, the embedded broker MQTT 3.1 and 3.1.1 only. ` +
          'Configure the device for MQTT 3.1.1, or set MQTT_URL to an MQTT 5 broker (Mosquitto, EMQX)',
      );
    }
    if (packet.clientId === '') this.assignedIds.add(client);
    return true;
  }

  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: AuthenticateDone,
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
        // A certificate names a device as surely as a password: the same client id rule (issue #18).
        const taken = this.clientIdRefusal(client, decision.identity);
        if (taken !== undefined) return done(taken, false);
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
        const taken = this.clientIdRefusal(client, identity);
        if (taken !== undefined) return done(taken, false);
        this.identities.set(client, identity);
        this.track(client, identity.username);
        done(null, true);
      },
      (err: unknown) => done(refusal(`Authentication failed: ${String(err)}`, NOT_AUTHORIZED), false),
    );
  }

  /** Whether the client may publish on `topic`; a refusal is logged (the broker then closes the connection). */
  canPublish(client: Client, topic: string): boolean {
    const who = this.of(client);
    if (this.acl.canPublish(who, topic)) return true;
    this.denials.log(
      'publish',
      `Closed MQTT client ${client.id} (${describeWho(who)}): publishing on ${topic} is not allowed`,
    );
    return false;
  }

  /** A refused subscription is answered with SUBACK 0x80 (failure); the connection stays. */
  authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const who = this.of(client);
    if (this.acl.canSubscribe(who, sub.topic)) return sub;
    this.denials.log(
      'subscribe',
      `Refused MQTT client ${client.id} (${describeWho(who)}) the subscription ${sub.topic}`,
    );
    return null;
  }

  /** CONNACK 2 for a client id that is not the identity's own (TopicAcl.ownsClientId); empty ids are fresh. */
  private clientIdRefusal(client: Client, identity: MqttIdentity): AuthenticateError | undefined {
    if (identity.kind === 'anonymous' || this.assignedIds.has(client) || this.acl.ownsClientId(identity, client.id))
      return undefined;
    this.denials.log(
      'client-id',
      `Refused MQTT client ${client.id} (${describeWho(identity)}): its client id must be ${identity.username} (or empty), so that it cannot take over another client's session`,
    );
    return refusal(`Identifier rejected: the client id must be ${identity.username}`, IDENTIFIER_REJECTED);
  }

  private track(client: Client, username: string): void {
    let sessions = this.sessions.get(username);
    if (sessions === undefined) this.sessions.set(username, (sessions = new Set()));
    sessions.add(client);
    client.conn.once('close', () => {
      sessions.delete(client);
      if (sessions.size === 0 && this.sessions.get(username) === sessions) this.sessions.delete(username);
    });
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

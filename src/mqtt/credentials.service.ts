import type { OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { DomainError } from '../common/domain-error';
import { DeviceIngestService } from '../devices/device-ingest.service';
import { CredentialsRepository } from './credentials.repository';
import type { MqttCredential } from './mqtt-credential.entity';
import { generatePassword, hashPassword, verifyPassword } from './password-hash';
import type { MqttIdentity } from './topic-acl';

/** What the admin API hands out, once. */
export interface MintedCredentials {
  username: string;
  password: string;
}

interface Known {
  record: MqttCredential;
  identity: Exclude<MqttIdentity, { kind: 'anonymous' }>;
  /**
   * SHA-256 of the password once a connect proved it: devices reconnecting
   * after a network blip are checked in microseconds instead of by scrypt.
   * Kept in memory only; replaced with the record on rotation.
   */
  proven?: Buffer;
}

/**
 * Per-device and gateway credentials of the embedded broker (bridge.md,
 * "MQTT (devices)"): minted by the admin API, stored as scrypt hashes, all held
 * in memory so a connect never waits for the database. Usernames: a device is
 * `{type}/{id}` and a gateway its name; names have no `/`, so the two never collide.
 */
@Injectable()
export class CredentialsService implements OnModuleInit {
  private readonly logger = new Logger(CredentialsService.name);
  private readonly known = new Map<string, Known>();
  private readonly revokeListeners: ((username: string) => void)[] = [];
  /** Mints run one after another so the table and the cache agree on the last one. */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly repository: CredentialsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly devices: DeviceIngestService,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.mqtt.url !== undefined) return;
    for (const record of await this.repository.all()) this.remember(record);
    if (this.known.size > 0) this.logger.log(`${this.known.size} MQTT credentials loaded`);
  }

  /**
   * Mints (or rotates: the old password stops working at once) a device's
   * credentials; a device the bridge has not heard of becomes known as `provisioning`.
   */
  async mintDevice(deviceType: string, deviceId: string): Promise<MintedCredentials> {
    const minted = await this.mint({
      username: `${deviceType}/${deviceId}`,
      kind: 'device',
      deviceType,
      deviceId,
      topics: null,
    });
    await this.devices.provisioned(deviceType, deviceId);
    return minted;
  }

  /** Mints (or rotates, with new topics) a gateway's credentials scoped to MQTT topic filters. */
  mintGateway(name: string, topics: string[]): Promise<MintedCredentials> {
    return this.mint({ username: name, kind: 'gateway', deviceType: null, deviceId: null, topics });
  }

  /** Called with the username whose password was just replaced, so live sessions on the old one end. */
  onRevoke(listener: (username: string) => void): void {
    this.revokeListeners.push(listener);
  }

  /** The identity these credentials prove, or undefined. */
  async authenticate(username: string, password: Buffer): Promise<MqttIdentity | undefined> {
    const known = this.known.get(username);
    if (known === undefined) return undefined;
    const digest = createHash('sha256').update(password).digest();
    if (known.proven !== undefined) return timingSafeEqual(known.proven, digest) ? known.identity : undefined;
    if (!(await verifyPassword(password, known.record.passwordHash))) return undefined;
    // Rotated while scrypt ran: the proof is of the old password.
    if (this.known.get(username) !== known) return undefined;
    known.proven = digest;
    return known.identity;
  }

  private async mint(fields: Omit<MqttCredential, 'passwordHash' | 'createdAt'>): Promise<MintedCredentials> {
    if (this.config.mqtt.url !== undefined) {
      throw new DomainError(
        'embedded_broker_only',
        'MQTT credentials are for the embedded broker; with MQTT_URL set, devices authenticate at that broker',
        409,
      );
    }
    if (fields.username.length > 255) {
      throw new DomainError('invalid_request', 'The username (type/id or gateway name) must be at most 255 characters');
    }
    const minted = this.writes.then(async () => {
      const password = generatePassword();
      const record: MqttCredential = { ...fields, passwordHash: await hashPassword(password), createdAt: Date.now() };
      await this.repository.put(record);
      const rotated = this.known.has(record.username);
      this.remember(record);
      if (rotated) for (const listener of this.revokeListeners) listener(record.username);
      this.logger.log(`MQTT credentials ${rotated ? 'rotated' : 'minted'} for ${record.kind} ${record.username}`);
      return { username: record.username, password };
    });
    this.writes = minted.catch(() => undefined);
    return await minted;
  }

  private remember(record: MqttCredential): void {
    const identity: Known['identity'] =
      record.kind === 'device'
        ? {
            kind: 'device',
            username: record.username,
            deviceType: record.deviceType ?? '',
            deviceId: record.deviceId ?? '',
          }
        : { kind: 'gateway', username: record.username, topics: record.topics ?? [] };
    this.known.set(record.username, { record, identity });
  }
}

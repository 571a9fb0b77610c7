import type { AppConfig } from '../config/app-config';
import type { DeviceIngestService } from '../devices/device-ingest.service';
import type { CredentialsRepository } from './credentials.repository';
import { CredentialsService } from './credentials.service';
import type { MqttCredential } from './mqtt-credential.entity';
import { hashPassword, verifyPassword } from './password-hash';

class MemoryRepository {
  readonly rows = new Map<string, MqttCredential>();
  all(): Promise<MqttCredential[]> {
    return Promise.resolve([...this.rows.values()]);
  }
  put(row: MqttCredential): Promise<void> {
    this.rows.set(row.username, { ...row });
    return Promise.resolve();
  }
}

const embedded = { mqtt: { url: undefined } } as unknown as AppConfig;

/** The devices the service said were provisioned, as `type/id`. */
class ProvisionedDevices {
  readonly names: string[] = [];
  provisioned(deviceType: string, deviceId: string): Promise<void> {
    this.names.push(`${deviceType}/${deviceId}`);
    return Promise.resolve();
  }
}

async function service(
  repo = new MemoryRepository(),
  config = embedded,
  devices = new ProvisionedDevices(),
): Promise<CredentialsService> {
  const s = new CredentialsService(
    repo as unknown as CredentialsRepository,
    config,
    devices as unknown as DeviceIngestService,
  );
  await s.onModuleInit();
  return s;
}

describe('password hashing', () => {
  it('stores scrypt$salt$hash, verifies the password and refuses others', async () => {
    const stored = await hashPassword('correct horse');
    expect(stored).toMatch(/^scrypt\$[\w-]{22}\$[\w-]{43}$/);
    expect(stored).not.toContain('correct horse');
    expect(await verifyPassword('correct horse', stored)).toBe(true);
    expect(await verifyPassword(Buffer.from('correct horse'), stored)).toBe(true);
    expect(await verifyPassword('correct horse!', stored)).toBe(false);
    expect(await verifyPassword('correct horse', 'plain$text')).toBe(false);
  });

  it('salts: the same password hashes differently each time', async () => {
    expect(await hashPassword('p')).not.toBe(await hashPassword('p'));
  });
});

describe('CredentialsService', () => {
  it('mints device credentials, stores only a hash, and proves the device identity', async () => {
    const repo = new MemoryRepository();
    const creds = await service(repo);
    const minted = await creds.mintDevice('weatherstation', 'ws-001');
    expect(minted.username).toBe('weatherstation/ws-001');
    expect(minted.password).toMatch(/^[\w-]{32}$/);
    const row = repo.rows.get('weatherstation/ws-001');
    expect(row).toMatchObject({ kind: 'device', deviceType: 'weatherstation', deviceId: 'ws-001', topics: null });
    expect(row?.passwordHash).not.toContain(minted.password);
    expect(await creds.authenticate(minted.username, Buffer.from(minted.password))).toEqual({
      kind: 'device',
      username: 'weatherstation/ws-001',
      deviceType: 'weatherstation',
      deviceId: 'ws-001',
    });
    // Again, now from the in-memory proof.
    expect(await creds.authenticate(minted.username, Buffer.from(minted.password))).toMatchObject({ kind: 'device' });
    expect(await creds.authenticate(minted.username, Buffer.from('wrong'))).toBeUndefined();
    expect(await creds.authenticate('weatherstation/ws-002', Buffer.from(minted.password))).toBeUndefined();
  });

  it('rotates: the old password stops working, the new one works, listeners hear of it', async () => {
    const creds = await service();
    const revoked: string[] = [];
    creds.onRevoke((u) => revoked.push(u));
    const first = await creds.mintDevice('weatherstation', 'ws-001');
    expect(await creds.authenticate(first.username, Buffer.from(first.password))).toBeDefined();
    expect(revoked).toEqual([]);
    const second = await creds.mintDevice('weatherstation', 'ws-001');
    expect(second.password).not.toBe(first.password);
    expect(revoked).toEqual(['weatherstation/ws-001']);
    expect(await creds.authenticate(first.username, Buffer.from(first.password))).toBeUndefined();
    expect(await creds.authenticate(second.username, Buffer.from(second.password))).toBeDefined();
  });

  it('makes a device known (provisioning) when its credentials are minted, a gateway not', async () => {
    const devices = new ProvisionedDevices();
    const creds = await service(new MemoryRepository(), embedded, devices);
    await creds.mintDevice('weatherstation', 'ws-010');
    await creds.mintGateway('site-a', ['things/sensor/#']);
    expect(devices.names).toEqual(['weatherstation/ws-010']);
  });

  it('mints gateway credentials scoped to their topics', async () => {
    const creds = await service();
    const minted = await creds.mintGateway('site-a', ['things/sensor/#']);
    expect(minted.username).toBe('site-a');
    expect(await creds.authenticate('site-a', Buffer.from(minted.password))).toEqual({
      kind: 'gateway',
      username: 'site-a',
      topics: ['things/sensor/#'],
    });
  });

  it('loads stored credentials at start-up, so they survive a restart', async () => {
    const repo = new MemoryRepository();
    const minted = await (await service(repo)).mintDevice('camera', 'front-door');
    const restarted = await service(repo);
    expect(await restarted.authenticate(minted.username, Buffer.from(minted.password))).toMatchObject({
      deviceId: 'front-door',
    });
  });

  it('refuses to mint when an external broker is used, and provisions nothing', async () => {
    const devices = new ProvisionedDevices();
    const external = { mqtt: { url: 'mqtt://127.0.0.1:1883' } } as unknown as AppConfig;
    const creds = await service(new MemoryRepository(), external, devices);
    await expect(creds.mintDevice('a', 'b')).rejects.toMatchObject({ code: 'embedded_broker_only', status: 409 });
    expect(devices.names).toEqual([]);
  });
});

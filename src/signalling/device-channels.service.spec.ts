import { ChannelMatcher } from '../auth/channel-pattern';
import type { Permission } from '../auth/token.service';
import { DeviceTypes } from '../config/device-types';
import { DeviceChannels } from '../devices/device-channels';
import type { DeviceIngestService } from '../devices/device-ingest.service';
import type { DeviceReject } from '../devices/device-rejects';
import { DeviceRejects } from '../devices/device-rejects';
import type { IngestMessage } from '../devices/ingest-message';
import { MetricsService } from '../observability/metrics.service';
import { DeviceChannelsService, MAX_WAITING_PUBLISHES } from './device-channels.service';
import type { OutboundFrame } from './signalling-frames';
import { SignallingError } from './signalling-frames';
import type { PeerIdentity } from './signalling-peer';
import { SignallingPeer } from './signalling-peer';

/** A bus that writes when told to. */
class FakeIngest {
  readonly enqueued: IngestMessage[][] = [];
  readonly statuses: string[] = [];
  private release: (() => void)[] = [];
  failIndex: number | undefined;

  enqueue(
    messages: IngestMessage[],
  ): Promise<{ written: Promise<unknown>; failed: { index: number; error: unknown }[] }> {
    this.enqueued.push(messages);
    const written = new Promise<void>((resolve) => this.release.push(resolve));
    const failed = this.failIndex === undefined ? [] : [{ index: this.failIndex, error: new Error('bug') }];
    return Promise.resolve({ written, failed });
  }
  commit(): void {
    for (const r of this.release.splice(0)) r();
  }
  connected(type: string, id: string): Promise<void> {
    this.statuses.push(`online ${type}/${id}`);
    return Promise.resolve();
  }
  disconnected(type: string, id: string): Promise<void> {
    this.statuses.push(`offline ${type}/${id}`);
    return Promise.resolve();
  }
}

const types = DeviceTypes.parse(
  JSON.stringify({
    accept_undeclared: false,
    types: { sensor: { readings: { temperature: { type: 'number', range: [-40, 80] } } } },
  }),
);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function peer(peerId: string, extra: Partial<PeerIdentity> = {}): SignallingPeer {
  const channels = extra.channels ?? ['**'];
  const identity: PeerIdentity = {
    peerId,
    expiresAt: null,
    channels,
    matcher: new ChannelMatcher(channels),
    permissions: new Set<Permission>(['publish', 'subscribe']),
    ...extra,
  };
  const socket = { send: (_f: OutboundFrame) => undefined, close: () => undefined, bufferedAmount: 0 };
  return new SignallingPeer(identity, socket, 1000);
}

describe('DeviceChannelsService', () => {
  let ingest: FakeIngest;
  let rejects: DeviceReject[];
  let service: DeviceChannelsService;
  beforeEach(() => {
    ingest = new FakeIngest();
    rejects = [];
    const deviceRejects = new DeviceRejects();
    deviceRejects.rejects$.subscribe((r) => rejects.push(r));
    service = new DeviceChannelsService(
      new DeviceChannels('things', [{ template: 'fleet/{id}/cmd', type: 'sensor', kind: 'cmd' }]),
      ingest as unknown as DeviceIngestService,
      types,
      deviceRejects,
      new MetricsService(),
    );
  });
  const route = (channel: string) => service.route(channel)!;

  it('settles a publish only once its batch is in the log, one batch for the publishes of one turn', async () => {
    let acked = 0;
    const channel = 'things/sensor/s-1/data';
    for (const t of [1, 2])
      void service.ingest(channel, route(channel), { temperature: t }, `r${t}`).then(() => acked++);
    await tick();
    expect(ingest.enqueued.map((batch) => batch.map((m) => m.kind))).toEqual([['data', 'data']]);
    await tick();
    expect(acked).toBe(0);
    ingest.commit();
    await tick();
    expect(acked).toBe(2);
  });

  it('refuses what MQTT rejects, naming the reason, and keeps the reject', () => {
    const channel = 'things/sensor/s-1/data';
    let error: unknown;
    try {
      void service.ingest(channel, route(channel), { temperature: 99 }, 'r1');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SignallingError);
    expect(error).toMatchObject({ code: 'malformed_message', requestId: 'r1' });
    expect((error as Error).message).toMatch(/^schema_violation: temperature/);
    expect(rejects).toEqual([
      expect.objectContaining({
        topic: channel,
        reason: 'schema_violation',
        payload: Buffer.from('{"temperature":99}'),
      }),
    ]);
    expect(() => service.ingest('things/other/o-1/data', route('things/other/o-1/data'), { x: 1 })).toThrow(
      /^undeclared_type: /,
    );
  });

  it('answers a message the devices service failed on with internal_error, and keeps it as ingest_failed', async () => {
    ingest.failIndex = 0;
    const channel = 'things/sensor/s-1/status';
    const settled = service.ingest(channel, route(channel), { status: 'online' }, 'r1').catch((e: unknown) => e);
    await tick();
    expect(await settled).toMatchObject({ code: 'internal_error', requestId: 'r1' });
    expect(rejects.map((r) => r.reason)).toEqual(['ingest_failed']);
  });

  it(`answers backend_error past ${MAX_WAITING_PUBLISHES} publishes waiting for the log`, async () => {
    const channel = 'things/sensor/s-1/data';
    for (let i = 0; i < MAX_WAITING_PUBLISHES; i++) void service.ingest(channel, route(channel), { temperature: 1 });
    expect(() => service.ingest(channel, route(channel), { temperature: 1 }, 'over')).toThrow(
      expect.objectContaining({ code: 'backend_error', requestId: 'over' }),
    );
    await tick();
    ingest.commit();
    await tick();
    await tick();
    // Written: room again.
    expect(() => void service.ingest(channel, route(channel), { temperature: 1 })).not.toThrow();
  });

  it('holds device and gateway tokens to the device direction', () => {
    const device = peer('sensor/s-1', { role: 'device' });
    const gateway = peer('site-a', { role: 'gateway' });
    const code = (fn: () => void): string | undefined => {
      try {
        fn();
      } catch (err) {
        return (err as SignallingError).code;
      }
      return undefined;
    };
    expect(code(() => service.checkPublish(device, service.route('things/sensor/s-1/data')))).toBeUndefined();
    expect(code(() => service.checkPublish(device, service.route('things/sensor/s-1/cmd/response')))).toBeUndefined();
    expect(code(() => service.checkPublish(device, service.route('things/sensor/s-2/data')))).toBe(
      'channel_not_authorized',
    );
    expect(code(() => service.checkPublish(device, service.route('things/sensor/s-1/cmd')))).toBe(
      'channel_not_authorized',
    );
    expect(code(() => service.checkPublish(device, undefined))).toBe('channel_not_authorized');
    expect(code(() => service.checkPublish(gateway, service.route('things/sensor/s-2/data')))).toBeUndefined();
    expect(code(() => service.checkSubscribe(gateway, 'things/sensor/*/cmd'))).toBeUndefined();
    expect(code(() => service.checkSubscribe(gateway, 'fleet/*/cmd'))).toBeUndefined();
    expect(code(() => service.checkSubscribe(device, 'things/sensor/s-1/data'))).toBe('channel_not_authorized');
    expect(code(() => service.checkSubscribe(gateway, 'things/**'))).toBe('channel_not_authorized');
    // Other tokens are as they were.
    expect(code(() => service.checkPublish(peer('app'), undefined))).toBeUndefined();
    expect(code(() => service.checkSubscribe(peer('app'), 'things/**'))).toBeUndefined();
  });

  it("sets a device's status from its connection, not a gateway's, and not while the service stops", async () => {
    service.connected(peer('sensor/s-1', { role: 'device' }));
    service.connected(peer('site-a', { role: 'gateway' }));
    service.connected(peer('app'));
    service.disconnected(peer('sensor/s-1', { role: 'device' }));
    service.stop();
    service.disconnected(peer('sensor/s-2', { role: 'device' }));
    await tick();
    expect(ingest.statuses).toEqual(['online sensor/s-1', 'offline sensor/s-1']);
    expect(() => service.ingest('things/sensor/s-1/data', route('things/sensor/s-1/data'), { temperature: 1 })).toThrow(
      expect.objectContaining({ code: 'backend_error' }),
    );
  });
});

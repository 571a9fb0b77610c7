import type { EventBusService } from '../bus/event-bus.service';
import type { ClusterLeaseService } from '../cluster/cluster-lease.service';
import type { RedisRepository } from '../cluster/redis.repository';
import { DeviceTypes } from '../config/device-types';
import type { DeviceRegistryService } from '../devices/device-registry.service';
import type { HealthService } from '../health/health.service';
import { MetricsService } from './metrics.service';
import { INSTANCE_TTL_MS, STATS_SAMPLE_MS, StatsService } from './stats.service';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function setup(redisHash?: Map<string, string>) {
  const metrics = new MetricsService();
  const devices = [
    { deviceType: 'blinker', deviceId: 'b1', status: 'online', lastSeen: NOW - 500 },
    { deviceType: 'blinker', deviceId: 'b2', status: 'online', lastSeen: NOW - 3000 },
    { deviceType: 'ws', deviceId: 'w1', status: 'error', lastSeen: NOW - 1000 },
    { deviceType: 'ws', deviceId: 'w2', status: 'offline', lastSeen: NOW - 9_000_000 },
    { deviceType: 'ws', deviceId: 'w3', status: 'provisioning', lastSeen: 0 },
  ];
  const registry = { all: () => devices.values() } as unknown as DeviceRegistryService;
  const bus = {
    backlog: () => ({ events: 2, oldest: { received_at: new Date(NOW - 40).toISOString() } }),
    stats: { batches: 3, events: 7, lastWriteMs: 1.25 },
  } as unknown as EventBusService;
  const health = {
    report: () => Promise.resolve({ status: 'ok', broker: { connected: true }, database: { connected: true } }),
  } as unknown as HealthService;
  const types = DeviceTypes.parse(
    JSON.stringify({ types: { blinker: { heartbeat_interval: 2, readings: {}, commands: {} } } }),
  );
  const lease = { instanceId: 'self-id', isLeader: true } as unknown as ClusterLeaseService;
  const redis = {
    enabled: redisHash !== undefined,
    key: (name: string) => `ns:${name}`,
    hashSet: (_key: string, field: string, value: string) => {
      redisHash?.set(field, value);
      return Promise.resolve(true);
    },
    hashGetAll: () => Promise.resolve(Object.fromEntries(redisHash ?? [])),
    hashDelete: (_key: string, ...fields: string[]) => {
      for (const f of fields) redisHash?.delete(f);
      return Promise.resolve();
    },
  } as unknown as RedisRepository;
  const stats = new StatsService(metrics, bus, health, registry, types, lease, redis);
  return { stats, metrics };
}

describe('StatsService', () => {
  beforeEach(() => jest.useFakeTimers({ now: NOW }));
  afterEach(() => jest.useRealTimers());

  it('counts devices by status, and as silent those past their heartbeat that are not offline yet', async () => {
    const { stats } = setup();
    const view = await stats.stats(NOW);
    expect(view.devices).toEqual({
      total: 5,
      online: 2,
      offline: 1,
      error: 1,
      // b2: 3 s without a word on a 2 s heartbeat; w1 (300 s default) and the offline and provisioning ones are not.
      silent: 1,
      by_status: { online: 2, error: 1, offline: 1, provisioning: 1 },
    });
    expect(view.heartbeat).toEqual({ default_interval: 300, intervals: { blinker: 2, ws: 300 } });
    expect(view.log).toMatchObject({ pending_events: 2, lag_ms: 40, last_write_ms: 1.25, batches: 3, events: 7 });
  });

  it('turns the ingestion counters into rates, one point per sample, within a bounded window', async () => {
    const { stats, metrics } = setup();
    stats.onModuleInit();
    await jest.advanceTimersByTimeAsync(0);
    metrics.mqttMessages.inc({ kind: 'data' }, 6);
    metrics.signallingDeviceMessages.inc({ kind: 'data' }, 4); // devices on signalling count alike (issue #15)
    metrics.mqttRejected.inc({ reason: 'not_json' }, 2);
    metrics.logWriteSeconds.observe(0.004);
    metrics.logWriteSeconds.observe(0.002);
    await jest.advanceTimersByTimeAsync(STATS_SAMPLE_MS);
    const view = await stats.stats();
    expect(view.rates.points).toEqual([
      { at: new Date(NOW + STATS_SAMPLE_MS).toISOString(), messages_per_sec: 5, rejects_per_sec: 1 },
    ]);
    expect(view.log.avg_write_ms).toBe(3);
    // Ten minutes later the ring holds five minutes' worth, no more.
    await jest.advanceTimersByTimeAsync(10 * 60_000);
    expect((await stats.stats()).rates.points).toHaveLength(view.rates.window_sec / view.rates.interval_sec);
    await stats.onModuleDestroy();
  });

  it('alone, this instance is the one up and leading; with Redis, every instance announced, stale ones down then gone', async () => {
    expect((await setup().stats.stats(NOW)).instances).toEqual([
      expect.objectContaining({ id: 'self-id', leader: true, up: true, self: true }),
    ]);
    const hash = new Map<string, string>([
      ['other-up', JSON.stringify({ leader: false, at: NOW - 1000, messages_per_sec: 4 })],
      ['other-down', JSON.stringify({ leader: true, at: NOW - INSTANCE_TTL_MS - 1, messages_per_sec: 0 })],
      ['long-gone', JSON.stringify({ leader: false, at: NOW - 11 * INSTANCE_TTL_MS, messages_per_sec: 0 })],
      ['garbage', 'not json'],
    ]);
    const { stats } = setup(hash);
    stats.onModuleInit();
    await jest.advanceTimersByTimeAsync(0);
    const instances = (await stats.stats(NOW)).instances;
    expect(instances.map((i) => [i.id, i.up, i.leader, i.self])).toEqual([
      // A lapsed leader is not shown leading.
      ['other-down', false, false, false],
      ['other-up', true, false, false],
      ['self-id', true, true, true],
    ]);
    expect([...hash.keys()].sort()).toEqual(['other-down', 'other-up', 'self-id']);
    await stats.onModuleDestroy();
    expect(hash.has('self-id')).toBe(false);
  });
});

import type { Storage } from '../support/app';
import { backends, freshStorage } from '../support/app';
import type { NumberedPublisher } from '../support/numbered-publishers';
import {
  acknowledgedMore,
  countLogged,
  faultLine,
  startPublishers,
  stopAndSettle,
} from '../support/numbered-publishers';
import type { ServiceProcess } from '../support/process';
import { runService } from '../support/process';
import { ensureServices, restartPostgres, restartRedis } from './services';

/**
 * Acknowledged means written (issue #11), when the services under the bridge
 * go away: devices publish numbered QoS 1 messages (with `message_id`)
 * through Mosquitto while PostgreSQL, then Redis, is restarted under a
 * running bridge. Every message Mosquitto acknowledged to a device must end
 * up in the log once, in the device's order. Mosquitto acknowledges devices
 * itself and keeps a message until the bridge acknowledges it, which the
 * bridge does only after the commit; the devices' rate keeps the backlog of a
 * restart well under Mosquitto's `max_queued_messages` (1000 here).
 */
const DEVICES = 4;
const RATE = 25;

describe('fault: services restarted while devices publish', () => {
  let storage: Storage | undefined;
  let service: ServiceProcess | undefined;
  let publishers: NumberedPublisher[] = [];

  afterEach(async () => {
    publishers.forEach((p) => p.close());
    publishers = [];
    service?.child.kill('SIGKILL');
    await service?.exited().catch(() => undefined);
    service = undefined;
    // Whatever the test did, the services are up for the next one (and for whatever runs after this project).
    await ensureServices();
    await storage?.dispose();
    storage = undefined;
  });

  afterAll(ensureServices);

  /** Runs the bridge on Mosquitto + PostgreSQL + Redis with devices publishing, restarts a service mid-stream, counts. */
  async function publishThrough(name: string, restart: () => Promise<void>): Promise<void> {
    storage = await freshStorage();
    service = runService({
      PORT: '0',
      HOST: '127.0.0.1',
      MQTT_URL: backends.mqttUrl ?? '',
      DATABASE_URL: storage.databaseUrl,
      REDIS_URL: backends.redisUrl ?? '',
      DATA_DIR: storage.dataDir,
      TOPIC_PREFIX: storage.topicPrefix,
      AUTH: 'off',
      LOG_LEVEL: 'info',
    });
    const [, url] = await service.waitForOutput(/HTTP\s+(http:\/\/\S+)/, 30_000);
    publishers = startPublishers(backends.mqttUrl ?? '', storage.topicPrefix, name, DEVICES, { rate: RATE });

    await acknowledgedMore(publishers, 100, `before the ${name}`);
    const before = service.output().length;
    const started = Date.now();
    await restart();
    const downMs = Date.now() - started;
    // The stream goes on after the restart, then the devices stop and the log is read.
    await acknowledgedMore(publishers, 200, `after the ${name}`);
    await stopAndSettle(publishers);
    const { counts, problems } = await countLogged(url, publishers, 30_000);
    // What the bridge said about the fault: evidence that it hit, not a pass condition.
    const warnings = service
      .output()
      .slice(before)
      .split('\n')
      .filter((line) => /"level":(50|40)/.test(line));
    const backend = `mosquitto+${storage.databaseUrl.split(':')[0]}+redis`;
    console.log(faultLine(name, backend, counts, { devices: DEVICES, restart_ms: downMs, warnings: warnings.length }));
    if (warnings.length > 0) console.log(`${name}: the bridge said\n${warnings.slice(0, 5).join('\n')}`);
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ missing: 0, duplicated: 0, reordered: 0 });
  }

  it('PostgreSQL restarted mid-stream: nothing acknowledged lost or logged twice', async () => {
    await publishThrough('pg-restart', restartPostgres);
  }, 90_000);

  it('Redis restarted mid-stream: nothing acknowledged lost or logged twice', async () => {
    await publishThrough('redis-restart', restartRedis);
  }, 90_000);
});

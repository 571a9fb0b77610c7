/**
 * Issue #11, item 2, in `MQTT_INGEST=shared` (issue #12: every member of the
 * share group subscribes): two instances, each under its own
 * MQTT_CLIENT_ID, so each keeps a persistent session at Mosquitto. One is
 * killed with SIGKILL while devices publish numbered QoS 1 messages and comes
 * back under the same id and data directory: what Mosquitto had sent it and
 * not had acknowledged is sent again, and what it queued meanwhile follows.
 * Every message Mosquitto acknowledged to a device must be in the log once.
 * (Across a share group MQTT gives no per-device order, so order is counted,
 * not asserted; the default, `lease`, keeps it: cluster-order.e2e-spec.ts.)
 */
import type { ClusterSetup, Instance } from './cluster-harness';
import { OwnedRedis, clusterSetup, freePort, startInstance, stopInstances } from './cluster-harness';
import type { NumberedPublisher } from '../support/numbered-publishers';
import {
  acknowledgedMore,
  countLogged,
  faultLine,
  startPublishers,
  stopAndSettle,
} from '../support/numbered-publishers';

jest.setTimeout(180_000);

const MQTT_URL = process.env.MQTT_URL as string;
const DATABASE_URL = process.env.DATABASE_URL as string;
const KILLS = 2;
const DEVICES = 4;
/**
 * Messages per second per device: the killed instance's share queues at
 * Mosquitto while it restarts, and must stay under `max_queued_messages`
 * (1000 here) for a slow restart on a busy machine.
 */
const RATE = 10;

describe('share group members with persistent sessions', () => {
  let redis: OwnedRedis;
  let setup: ClusterSetup;
  let instances: Instance[] = [];
  let publishers: NumberedPublisher[] = [];

  beforeAll(async () => {
    redis = new OwnedRedis(await freePort());
    await redis.start();
    const pgPort = Number(new URL(DATABASE_URL).port || 5432);
    setup = await clusterSetup(DATABASE_URL, MQTT_URL, redis.url, pgPort, {
      AUTH: 'off',
      DEVICE_AUTH: 'off',
      MQTT_INGEST: 'shared',
    });
    const a = await startInstance('a', setup, { MQTT_CLIENT_ID: `${setup.prefix}-a` });
    const b = await startInstance('b', setup, { MQTT_CLIENT_ID: `${setup.prefix}-b` });
    instances = [a, b];
    publishers = startPublishers(MQTT_URL, setup.prefix, 'p', DEVICES, { rate: RATE });
  });

  afterAll(async () => {
    publishers.forEach((p) => p.close());
    await stopInstances(instances);
    await redis?.stop();
    await setup?.dropDatabase();
  });

  it(`logs every acknowledged message once when a member is killed and comes back under its id (${KILLS} kills)`, async () => {
    for (let kill = 1; kill <= KILLS; kill++) {
      await acknowledgedMore(publishers, 80, `before kill ${kill}`);
      const [a, victim] = instances;
      victim.service.child.kill('SIGKILL');
      await victim.service.exited(10_000);
      await acknowledgedMore(publishers, 40, `while b is away (kill ${kill})`);
      instances = [a, await startInstance(victim.name, setup, victim.env)];
    }
    await acknowledgedMore(publishers, 80, 'after the last restart');
    await stopAndSettle(publishers);

    const { counts, problems } = await countLogged(instances[0].url, publishers, 30_000);
    console.log(faultLine('share-group-kill', 'mosquitto+postgres+redis', counts, { kills: KILLS, devices: DEVICES }));
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ missing: 0, duplicated: 0 });
  });
});

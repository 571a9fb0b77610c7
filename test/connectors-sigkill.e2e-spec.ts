/**
 * A connector's cursor across SIGKILL (issue #16, "Restarts and clusters"):
 * events are broadcast while the service is killed with SIGKILL in the middle
 * of deliveries and restarted on the same data. At the end the receiver must
 * have acknowledged every event the admin API answered with an id, in log
 * order; an event comes twice only after a kill (in flight, or acknowledged
 * before its cursor commit), never twice from one run. Prints the counts.
 * FAULT_ROUNDS (default 3) and FAULT_SEED replay a run.
 */
import type { Storage } from './support/app';
import { freshStorage } from './support/app';
import { CONNECTOR_TEST_ENV, admin } from './support/connectors';
import { freePort } from './support/numbered-publishers';
import { KilledService, backendLabel, faultEnv } from './support/killed-service';
import { waitFor } from './support/wait';
import { WebhookReceiver } from './support/webhook-receiver';

const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 3);
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 100_000);
const BATCH = 5;
const ADMIN_TOKEN = 'adm_connectors_sigkill';

describe('data connectors: SIGKILL while delivering', () => {
  let storage: Storage;
  let receiver: WebhookReceiver;
  let service: KilledService;
  const on = (): { url: string; adminToken: string } => ({ url: service.url, adminToken: ADMIN_TOKEN });

  /** Broadcasts `n` events one after another; answers the ids the API confirmed (a kill cuts the rest). */
  const broadcast = async (from: number, n: number): Promise<string[]> => {
    const ids: string[] = [];
    for (let k = from; k < from + n; k++) {
      const res = await admin<{ id: string }>(on(), 'POST', '/admin/broadcast', {
        device_type: 'meter',
        device_id: 'm-1',
        event_type: 'reading',
        data: { k },
      }).catch(() => undefined);
      if (res?.status !== 200 && res?.status !== 201) break;
      ids.push(res.body.id);
    }
    return ids;
  };

  beforeAll(async () => {
    storage = await freshStorage();
    receiver = new WebhookReceiver();
    await receiver.start();
    service = new KilledService({
      ...faultEnv(storage, await freePort()),
      ...CONNECTOR_TEST_ENV,
      PORT: '0',
      ADMIN_TOKEN,
      JWT_SECRET: 'connectors-sigkill-secret-0123456789abcdef',
    });
    await service.start();
  });

  afterAll(async () => {
    await service?.kill().catch(() => undefined);
    await receiver?.stop();
    await storage?.dispose();
  });

  it(`loses and reorders nothing across ${ROUNDS} kills mid-delivery`, async () => {
    // Slow enough answers that a kill finds a request in flight.
    receiver.answer = () => ({ status: 200, delayMs: 15 });
    const created = await admin(on(), 'POST', '/admin/connectors', {
      name: 'durable',
      url: receiver.url,
      batch_size: BATCH,
      event_types: ['reading'],
    });
    expect(created.status).toBe(201);

    const confirmed: string[] = [];
    const restarts: number[] = [];
    await service.killRounds(
      ROUNDS,
      SEED,
      async (round, random) => {
        confirmed.push(...(await broadcast(confirmed.length, 20 + Math.floor(random() * 30))));
        // Kill once the receiver has acknowledged part of it, with more still to deliver.
        const target = confirmed.length - BATCH - Math.floor(random() * 10);
        await waitFor(
          () => (new Set(receiver.acknowledgedIds()).size >= target ? true : undefined),
          `round ${round}: deliveries under way`,
          20_000,
        );
      },
      // A run delivers until its kill: where the next run's requests start is counted once the process is dead.
      () => restarts.push(receiver.requests.length),
    );
    confirmed.push(...(await broadcast(confirmed.length, 10)));
    await waitFor(
      () => (confirmed.every((id) => receiver.acknowledgedIds().includes(id)) ? true : undefined),
      'every confirmed event acknowledged by the receiver',
      30_000,
    ).catch(() => undefined); // the counts below say what is missing

    const counts = receiver.deliveryCounts(confirmed);
    const backend = backendLabel(storage);
    console.log(
      `fault connector-sigkill backend=${backend} events=${counts.events} missing=${counts.missing} ` +
        `duplicated=${counts.duplicated} reordered=${counts.reordered} requests=${counts.requests} ` +
        `seed=${SEED} rounds=${ROUNDS}`,
    );
    expect(counts).toMatchObject({ missing: 0, reordered: 0 });
    // At least once: events come again only after a kill, and only the last few batches (in flight, or
    // acknowledged while the cursor commit before them was still running): the cursor was committed.
    const repeats = receiver.repeats(restarts);
    console.log(`connector-sigkill repeats after each restart: ${repeats.afterRestart.join(', ')}`);
    expect(repeats.within).toBe(0);
    for (const n of repeats.afterRestart) expect(n).toBeLessThanOrEqual(8 * BATCH);
  }, 180_000);
});

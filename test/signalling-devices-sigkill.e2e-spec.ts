import { SignallingClient } from '@metered-ca/realtime';
import WebSocket from 'ws';
import type { Storage } from './support/app';
import { freshStorage } from './support/app';
import type { Counted } from './support/numbered-publishers';
import {
  acknowledgedMore,
  countLogged,
  countReadings,
  faultLine,
  freePort,
  stopAndSettle,
} from './support/numbered-publishers';
import { KilledService, backendLabel, faultEnv } from './support/killed-service';

/**
 * Acknowledged means written for devices that speak signalling (issue #15):
 * official `@metered-ca/realtime` clients, each with its device token,
 * publish numbered readings (with a `message_id`) on their device channels
 * and resend what was not acknowledged, as the SDK's users are told to,
 * while the service is killed with SIGKILL at random moments and restarted
 * on the same port and data. The log and the readings history must hold
 * every acknowledged message once, in each device's order. Prints the
 * counts. FAULT_ROUNDS (default 4) and FAULT_SEED replay a run.
 */
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 4);
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 100_000);
const DEVICES = 4;
/** Messages per second per device, well under the protocol's 100 per connection. */
const RATE = 25;
const ADMIN_TOKEN = 'adm_signalling_sigkill';

/** A device on the SDK: publishes 1, 2, 3, … one at a time, and sends a message again until it is acknowledged. */
class SignallingDevice implements Counted {
  readonly acknowledged: number[] = [];
  private next = 1;
  private stopped = false;
  private sending = false;
  private readonly client: SignallingClient;
  private readonly done: Promise<void>;

  constructor(
    wsUrl: string,
    readonly deviceId: string,
    token: string,
    private readonly channel: string,
  ) {
    this.client = new SignallingClient({
      url: wsUrl,
      tokenProvider: () => Promise.resolve(token),
      reconnect: { initialDelayMs: 50, maxDelayMs: 300, jitterRatio: 0 },
      webSocketFactory: (url) => new WebSocket(url),
    });
    this.client.on('server-error', () => undefined);
    this.done = this.run();
  }

  get published(): number {
    return this.next - 1;
  }

  get settled(): boolean {
    return !this.sending;
  }

  stop(): void {
    this.stopped = true;
  }

  async close(): Promise<void> {
    this.stop();
    await this.done;
    await this.client.close().catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.client.connect();
        break;
      } catch {
        await pause(100);
      }
    }
    while (!this.stopped) {
      const seq = this.next;
      this.sending = true;
      try {
        await this.client.publish(this.channel, { seq, message_id: `${this.deviceId}-${seq}` });
        this.acknowledged.push(seq);
        this.next++;
        this.sending = false;
        await pause(1000 / RATE);
      } catch {
        // Not connected, or the connection dropped before the ack: the SDK reconnects; the same message goes again.
        await pause(50);
      }
    }
    this.sending = false;
  }
}

/** A device's own pace between messages (not a wait for an outcome). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('signalling devices: SIGKILL while devices publish', () => {
  let storage: Storage;
  let service: KilledService | undefined;
  let devices: SignallingDevice[] = [];

  beforeAll(async () => {
    storage = await freshStorage();
    service = new KilledService({
      ...faultEnv(storage, await freePort()),
      PORT: String(await freePort()),
      ADMIN_TOKEN,
      JWT_SECRET: 'signalling-sigkill-secret-0123456789abcdef',
      AUTH: 'off',
    });
    await service.start();
    const { url } = service;
    for (let d = 1; d <= DEVICES; d++) {
      const id = `s-${d}`;
      const res = await fetch(`${url}/admin/devices/meter/${id}/token`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(res.status).toBe(201);
      const { token } = (await res.json()) as { token: string };
      devices.push(
        new SignallingDevice(url.replace(/^http/, 'ws'), id, token, `${storage.topicPrefix}/meter/${id}/data`),
      );
    }
  });

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    devices = [];
    await service?.kill().catch(() => undefined);
    await storage?.dispose();
  });

  it(`loses, duplicates and reorders nothing acknowledged across ${ROUNDS} kills`, async () => {
    const killed = service as KilledService;
    // Kill after a random amount of acknowledged traffic, not after a fixed time.
    await killed.killRounds(ROUNDS, SEED, (round, random) =>
      acknowledgedMore(devices, 40 + Math.floor(random() * 160), `round ${round}`),
    );
    await acknowledgedMore(devices, 20, 'after the last restart');
    await stopAndSettle(devices);
    const { url } = killed;

    const { counts, problems } = await countLogged(url, devices);
    const backend = backendLabel(storage);
    console.log(faultLine('signalling-sigkill', backend, counts, { seed: SEED, rounds: ROUNDS, devices: DEVICES }));
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ missing: 0, duplicated: 0, reordered: 0 });
    const readings = await countReadings(url, devices);
    console.log(faultLine('signalling-sigkill-readings', backend, readings.counts));
    expect(readings.problems).toEqual([]);
    expect(readings.counts).toMatchObject({ missing: 0, duplicated: 0, reordered: 0 });
  }, 240_000);
});

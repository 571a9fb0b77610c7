import type { Storage } from './app';
import { backends } from './app';
import type { ServiceProcess } from './process';
import { runService } from './process';

/**
 * The service as a process the SIGKILL suites kill and start again on the
 * same environment (data, ports, secrets): where it answers HTTP now, and
 * rounds of kills at moments a seeded generator picks, so FAULT_SEED
 * replays a run.
 */
export class KilledService {
  private service: ServiceProcess | undefined;
  /** Its HTTP address, as its banner printed it (with PORT=0, a new one after each start). */
  url = '';

  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    this.service = runService(this.env);
    [, this.url] = await this.service.waitForOutput(/HTTP\s+(http:\/\/\S+)/, 60_000);
  }

  async kill(): Promise<void> {
    const killed = this.service;
    if (killed === undefined) return;
    this.service = undefined;
    killed.child.kill('SIGKILL');
    await killed.exited(10_000);
  }

  /**
   * `rounds` times: waits for `traffic` (given a random number in [0, 1) to
   * size it), then kills the service, tells `killed` once it is dead, and
   * starts it again.
   */
  async killRounds(
    rounds: number,
    seed: number,
    traffic: (round: number, random: () => number) => Promise<void>,
    killed: (round: number) => void = () => undefined,
  ): Promise<void> {
    let rng = seed;
    const random = (): number => (rng = (rng * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let round = 1; round <= rounds; round++) {
      await traffic(round, random);
      await this.kill();
      killed(round);
      await this.start();
    }
  }
}

/** The backends a fault line names: `embedded+sqlite`, `mosquitto+postgres`, … */
export function backendLabel(storage: Pick<Storage, 'databaseUrl'>): string {
  return `${backends.mqttUrl ? 'mosquitto' : 'embedded'}+${storage.databaseUrl.split(':')[0]}`;
}

/** What every fault suite's service runs with: its storage, its own MQTT port (or the external broker), loopback, info logs. */
export function faultEnv(storage: Storage, mqttPort: number): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    MQTT_PORT: String(mqttPort),
    MQTT_URL: backends.mqttUrl ?? '',
    DATA_DIR: storage.dataDir,
    DATABASE_URL: storage.databaseUrl,
    TOPIC_PREFIX: storage.topicPrefix,
    LOG_LEVEL: 'info',
  };
}

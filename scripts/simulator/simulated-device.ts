import type { MqttClient } from 'mqtt';
import mqtt from 'mqtt';
import type { ReadingsModel } from './readings';

/** Counters the whole fleet shares, for the summary line. */
export interface FleetStats {
  published: number;
  commandsAnswered: number;
  dropouts: number;
  /** Distinct connection errors, printed once each. */
  errors: Set<string>;
}

export interface DeviceSettings {
  url: string;
  prefix: string;
  type: string;
  id: string;
  credentials?: { username: string; password: string };
  /** ms between data messages (`--rate`, then `set_interval`). */
  intervalMs: number;
  /** ms between status reports (battery). */
  statusEveryMs: number;
  /** Jittered timing, daily cycles, faster battery drain. */
  realistic: boolean;
  /** Length of a simulated day in ms (realistic mode). */
  dayMs: number;
  /** Drop-outs per device per hour; 0 for none. */
  dropoutsPerHour: number;
  /** The longest a drop-out lasts, in ms. */
  downtimeMs: number;
  /** Command names the type declares; undefined when it declares none (then any command is answered). */
  commands: string[] | undefined;
  readings: ReadingsModel;
}

const OFFLINE = JSON.stringify({ status: 'offline' });
const FIRMWARE = ['2.1.0', '2.1.3', '2.2.0'];

/**
 * One simulated device: its own MQTT connection and credentials, a last will
 * of `{"status": "offline"}` on its status topic, readings at its interval,
 * status with battery now and then, answers to commands on `cmd/response`,
 * and an occasional drop-out (mostly abrupt, so the broker sends the will).
 */
export class SimulatedDevice {
  private client: MqttClient | undefined;
  private dataTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private dropTimer: NodeJS.Timeout | undefined;
  private returnTimer: NodeJS.Timeout | undefined;
  private battery = 60 + Math.random() * 40;
  private firmware = FIRMWARE[Math.floor(Math.random() * FIRMWARE.length)];
  private stopped = false;
  private readonly topic: string;

  constructor(
    private readonly s: DeviceSettings,
    private readonly stats: FleetStats,
  ) {
    this.topic = `${s.prefix}/${s.type}/${s.id}`;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    this.stopped = false;
    this.connect();
    if (this.s.dropoutsPerHour > 0) {
      // One draw a second: the chance of a drop-out in it.
      const perSecond = this.s.dropoutsPerHour / 3600;
      this.dropTimer = setInterval(() => {
        if (this.connected && Math.random() < perSecond) this.dropOut();
      }, 1000);
    }
  }

  /** Says offline (a clean disconnect sends no will) and disconnects; resolves within 2 s either way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.dropTimer);
    clearTimeout(this.returnTimer);
    this.stopTimers();
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => client.end(true, {}, () => resolve()), 2000);
      const end = (): void => {
        client.end(false, {}, () => {
          clearTimeout(force);
          resolve();
        });
      };
      if (client.connected) client.publish(`${this.topic}/status`, OFFLINE, { qos: 1 }, end);
      else end();
    });
  }

  private connect(): void {
    const client = mqtt.connect(this.s.url, {
      // With credentials the embedded broker takes only the device's own username as its client id.
      clientId:
        this.s.credentials?.username ?? `sim-${this.s.type}-${this.s.id}-${Math.random().toString(36).slice(2, 8)}`,
      ...(this.s.credentials ?? {}),
      will: { topic: `${this.topic}/status`, payload: Buffer.from(OFFLINE), qos: 1, retain: false },
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
    });
    this.client = client;
    client.on('connect', () => {
      client.subscribe(`${this.topic}/cmd`, { qos: 1 });
      this.publishStatus();
      this.scheduleData();
      clearInterval(this.statusTimer);
      this.statusTimer = setInterval(() => this.publishStatus(), this.s.statusEveryMs);
    });
    client.on('close', () => this.stopTimers());
    client.on('error', (err) => this.stats.errors.add(err.message));
    client.on('message', (topic, payload) => this.command(payload));
  }

  private stopTimers(): void {
    clearTimeout(this.dataTimer);
    clearInterval(this.statusTimer);
  }

  private scheduleData(): void {
    clearTimeout(this.dataTimer);
    const jitter = this.s.realistic ? 0.8 + Math.random() * 0.4 : 1;
    this.dataTimer = setTimeout(() => {
      this.publishData();
      this.scheduleData();
    }, this.s.intervalMs * jitter);
  }

  private publishData(): void {
    const phase = this.s.realistic ? (Date.now() % this.s.dayMs) / this.s.dayMs : undefined;
    this.publish('data', { ...this.s.readings.sample(phase), timestamp: new Date().toISOString() });
    const before = this.battery;
    this.battery = Math.max(0, this.battery - (this.s.realistic ? 0.05 : 0.01));
    // A battery running low, and then swapped, is news worth a status report.
    if ((before >= 15 && this.battery < 15) || this.battery < 3) {
      if (this.battery < 3) this.battery = 100;
      this.publishStatus();
    }
  }

  private publishStatus(): void {
    const status = this.battery < 15 ? 'low_battery' : 'online';
    this.publish('status', {
      status,
      battery_level: Math.round(this.battery * 10) / 10,
      firmware_version: this.firmware,
    });
  }

  private publish(kind: string, body: Record<string, unknown>): void {
    const client = this.client;
    if (!client?.connected) return;
    client.publish(`${this.topic}/${kind}`, JSON.stringify(body), { qos: kind === 'data' ? 0 : 1 });
    this.stats.published++;
  }

  /** `{command, payload, request_id}` from `cmd`; the answer goes to `cmd/response` with the same request_id. */
  private command(raw: Buffer): void {
    let message: { command?: unknown; payload?: unknown; request_id?: unknown };
    try {
      message = JSON.parse(raw.toString('utf8')) as typeof message;
    } catch {
      return;
    }
    const requestId = message.request_id;
    if (typeof requestId !== 'string' || typeof message.command !== 'string') return;
    const payload = (typeof message.payload === 'object' && message.payload !== null ? message.payload : {}) as Record<
      string,
      unknown
    >;
    const answer = (body: { result: unknown } | { error: string }): void => {
      this.publish('cmd/response', { request_id: requestId, ...body });
      this.stats.commandsAnswered++;
    };
    switch (message.command) {
      case 'set_interval': {
        const seconds = payload.interval;
        if (typeof seconds !== 'number' || !(seconds >= 0.05 && seconds <= 86_400)) {
          answer({ error: 'interval must be a number of seconds from 0.05 to 86400' });
          return;
        }
        this.s.intervalMs = seconds * 1000;
        answer({ result: { interval: seconds } });
        this.scheduleData();
        return;
      }
      case 'reboot':
        answer({ result: { rebooting: true, firmware_version: this.firmware } });
        this.restart(2000 + Math.random() * 2000, true);
        return;
      default:
        if (this.s.commands !== undefined && !this.s.commands.includes(message.command)) {
          answer({ error: `unknown command ${message.command}` });
          return;
        }
        answer({ result: { ok: true, command: message.command, payload } });
    }
  }

  /** Gone for a while: abruptly most of the time (the broker then publishes the last will), else saying so first. */
  private dropOut(): void {
    this.stats.dropouts++;
    const max = this.s.downtimeMs;
    this.restart(max / 6 + Math.random() * (max - max / 6), Math.random() < 0.3);
  }

  private restart(afterMs: number, graceful: boolean): void {
    const client = this.client;
    this.client = undefined;
    this.stopTimers();
    if (client) {
      if (graceful && client.connected) {
        client.publish(`${this.topic}/status`, OFFLINE, { qos: 1 }, () => client.end());
      } else {
        // Cutting the socket without DISCONNECT is what makes the broker send the will.
        client.stream.destroy();
        client.end(true);
      }
    }
    this.returnTimer = setTimeout(() => {
      if (!this.stopped) this.connect();
    }, afterMs);
  }
}

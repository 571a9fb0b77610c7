import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Storage, TestApp } from './support/app';
import { freePort } from './cluster/cluster-harness';
import { bootApp, declareTypes, freshStorage } from './support/app';
import { openSse } from './support/sse-client';
import { waitFor } from './support/wait';
import { clientToken } from './support/web-clients';

jest.setTimeout(90_000);

const root = join(__dirname, '..');

interface Simulator {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * The simulator as an operator runs it, in a process group of its own so
 * that a test can press Ctrl-C the way a terminal does (SIGINT to the whole
 * group). `npm` runs it through `npm run simulate -- …`; otherwise the
 * command that script runs, so the exit code is the simulator's own rather
 * than npm's answer to the signal.
 */
function simulate(app: TestApp, args: string[], via: 'npm' | 'script' = 'npm'): Simulator {
  const target = ['--url', app.mqttUrl, '--api', app.url, '--admin-token', app.adminToken];
  const all = [...target, '--prefix', app.config.mqtt.topicPrefix, ...args];
  const [command, ...rest] =
    via === 'npm'
      ? ['npm', 'run', '--silent', 'simulate', '--', ...all]
      : [join(root, 'node_modules', '.bin', 'ts-node'), '--transpile-only', 'scripts/simulate.ts', ...all];
  const child = spawn(command, rest, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Resolves with the exit code, or rejects when the process is still running at the deadline. */
async function exitWithin(sim: Simulator, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the simulator did not exit within ${ms} ms:\n${sim.output()}`)), ms);
  });
  return Promise.race([sim.exited, deadline]).finally(() => clearTimeout(timer));
}

interface DeviceRow {
  device_id: string;
  status: string;
  battery_level: number | null;
  firmware_version: string | null;
  latest_readings: Record<string, { value: unknown }>;
}

/** The simulator (issue #6) against a test service with device credentials required and a declared type. */
describe('npm run simulate', () => {
  let storage: Storage;
  let app: TestApp;
  let token: string;
  const running: Simulator[] = [];

  const devices = async (): Promise<DeviceRow[]> => {
    const res = await fetch(`${app.url}/api/devices?device_type=weatherstation`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    return ((await res.json()) as { devices: DeviceRow[] }).devices;
  };
  const command = async (id: string, body: Record<string, unknown>): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${app.url}/api/devices/weatherstation/${id}/commands`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${app.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ timeout: 10, ...body }),
    });
    return { status: res.status, body: await res.json() };
  };

  beforeAll(async () => {
    storage = await freshStorage();
    const types = declareTypes(storage, {
      types: {
        weatherstation: {
          heartbeat_interval: 60,
          readings: {
            temperature: { type: 'number', unit: '°C', range: [-10, 40] },
            humidity: { type: 'number', unit: '%', range: [20, 90] },
          },
          commands: {
            set_interval: { payload: { interval: { type: 'number', range: [0.1, 3600] } } },
            reboot: {},
            calibrate: { payload: { offset: { type: 'number', range: [-5, 5] } } },
          },
        },
      },
    });
    // A port of its own: the bridge's MQTT client id is derived from PORT, and apps on port 0 would share one session at an external broker.
    app = await bootApp({ DEVICE_TYPES: types, DEVICE_AUTH: 'required', PORT: String(await freePort()) }, storage);
    token = clientToken(app);
  });
  afterAll(async () => {
    for (const sim of running) {
      try {
        process.kill(-(sim.child.pid as number), 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
    await app?.stop();
    await storage?.dispose();
  });

  it('runs a fleet with minted credentials: readings in range, status and battery, commands answered, then stops by itself', async () => {
    const sim = simulate(app, [
      '--type',
      'weatherstation',
      '--devices',
      '3',
      '--rate',
      '4',
      '--dropouts',
      '0',
      '--duration',
      '8',
    ]);
    running.push(sim);
    const fleet = await waitFor(
      async () => {
        const rows = await devices();
        return rows.length === 3 && rows.every((d) => d.status === 'online' && 'temperature' in d.latest_readings)
          ? rows
          : undefined;
      },
      'three simulated devices online with readings',
      15_000,
    );
    expect(fleet.map((d) => d.device_id)).toEqual(['sim-001', 'sim-002', 'sim-003']);
    for (const d of fleet) {
      expect(d.battery_level).toBeGreaterThan(0);
      expect(d.firmware_version).toMatch(/^\d+\.\d+\.\d+$/);
    }
    // With an external broker (MQTT_URL) devices authenticate there: the simulator says why it connects anonymously.
    // Credentials are minted a few at a time: the refusal it names is whichever came first.
    expect(sim.output()).toMatch(
      app.config.mqtt.url === undefined
        ? /Minted credentials for 3 devices/
        : /Connecting anonymously: no credentials for weatherstation\/sim-00[1-3] \(409\): MQTT credentials are for the embedded broker/,
    );
    expect(sim.output()).toContain('declared readings temperature, humidity');

    expect(await command('sim-002', { command: 'set_interval', payload: { interval: 0.5 } })).toEqual({
      status: 200,
      body: { request_id: expect.any(String), result: { interval: 0.5 } },
    });
    expect(await command('sim-003', { command: 'calibrate', payload: { offset: 1.5 } })).toEqual({
      status: 200,
      body: { request_id: expect.any(String), result: { ok: true, command: 'calibrate', payload: { offset: 1.5 } } },
    });
    await waitFor(
      () => (/3\/3 connected · [\d.]+ msg\/s · 2 commands answered/.test(sim.output()) ? true : undefined),
      'the summary line',
    );
    const reboot = await command('sim-001', { command: 'reboot' });
    expect(reboot).toEqual({
      status: 200,
      body: { request_id: expect.any(String), result: expect.objectContaining({ rebooting: true }) },
    });

    expect(await exitWithin(sim, 20_000)).toBe(0);
    expect(sim.output()).toMatch(/Stopped after [\d.]+ s: \d+ messages, 3 commands answered/);
    // Stopping says offline for every device.
    await waitFor(
      async () => ((await devices()).every((d) => d.status === 'offline') ? true : undefined),
      'every device offline',
    );

    // Every reading it sent drifted within the declared ranges: the service refused none.
    const rejects = await fetch(`${app.url}/admin/rejects`, { headers: { Authorization: `Bearer ${app.adminToken}` } });
    expect(((await rejects.json()) as { rejects: unknown[] }).rejects).toEqual([]);
    const history = await fetch(`${app.url}/api/devices/weatherstation/sim-001/readings?limit=1000`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const readings = ((await history.json()) as { readings: { name: string; value: number }[] }).readings;
    expect(readings.length).toBeGreaterThan(10);
    const temperatures = readings.filter((r) => r.name === 'temperature').map((r) => r.value);
    expect(Math.min(...temperatures)).toBeGreaterThanOrEqual(-10);
    expect(Math.max(...temperatures)).toBeLessThanOrEqual(40);
    expect(new Set(temperatures).size).toBeGreaterThan(1);
  });

  it('has devices drop offline now and then, and stops cleanly on Ctrl-C', async () => {
    const statuses = await openSse(`${app.url}/iot/stream/weatherstation/?event_types=status&token=${token}`);
    const sim = simulate(
      app,
      ['--type', 'weatherstation', '--devices', '2', '--id-prefix', 'drop', '--dropouts', '3600', '--downtime', '3'],
      'script',
    );
    running.push(sim);
    try {
      // Drop-outs: offline (the last will, or said first), then back online.
      await waitFor(
        () => {
          const seen = statuses.events().map((e) => `${e.device_id}:${String(e.data.new_status)}`);
          const i = seen.findIndex((s) => s.endsWith(':offline'));
          return i >= 0 && seen.slice(i + 1).some((s) => s === seen[i].replace('offline', 'online')) ? true : undefined;
        },
        'a device dropping out and coming back',
        45_000,
      );
      process.kill(-(sim.child.pid as number), 'SIGINT');
      expect(await exitWithin(sim, 5000)).toBe(0);
      expect(sim.output()).toContain('SIGINT: saying offline for 2 devices');
      expect(sim.output()).toMatch(/Stopped after [\d.]+ s: \d+ messages, 0 commands answered, [1-9]\d* drop-outs/);
    } finally {
      statuses.close();
    }
  }, 60_000);
});

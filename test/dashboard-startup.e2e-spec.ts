import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { ServiceProcess } from './support/process';
import { runService } from './support/process';
import { waitFor } from './support/wait';
import { buildDashboard } from './dashboard-build';

/**
 * The first minutes of the five-minute tour (README): `npm start` prints a
 * dashboard URL, and that URL's token opens the page, reads the devices and
 * sends a command that the device answers.
 */
describe('the dashboard URL printed at start-up', () => {
  let dataDir: string;
  let service: ServiceProcess;

  beforeAll(async () => {
    await buildDashboard();
    dataDir = mkdtempSync(join(tmpdir(), 'dhb-dashboard-start-'));
    // The defaults but the ports (the machine's Mosquitto may hold 1883): device credentials required.
    service = runService({ DATA_DIR: dataDir, PORT: '0', MQTT_PORT: '0' });
  });
  afterAll(async () => {
    service.child.kill('SIGTERM');
    await service.exited().catch(() => service.child.kill('SIGKILL'));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the page and its assets, and its token reads devices and sends commands', async () => {
    const [, dashboard] = await service.waitForOutput(/Dashboard\s+(http:\/\/\S+)/);
    const [, adminToken] = await service.waitForOutput(/Admin token\s+(\S+)/);
    const [, mqttUrl] = await service.waitForOutput(/embedded broker (mqtt:\/\/[\d.]+:\d+)/);
    const url = new URL(dashboard);
    const token = url.searchParams.get('token') as string;
    expect(url.pathname).toBe('/');
    expect(service.output()).toMatch(new RegExp(`API docs\\s+${url.origin}/docs`));

    const page = await fetch(dashboard);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await page.text();
    for (const asset of ['/dashboard/app.js', '/dashboard/app.css']) {
      expect(html).toContain(asset);
      const res = await fetch(`${url.origin}${asset}`);
      expect(res.status).toBe(200);
      expect((await res.text()).length).toBeGreaterThan(1000);
    }
    expect((await fetch(`${url.origin}/docs`)).status).toBe(200);

    // A device with its own credentials, answering commands.
    const minted = await fetch(`${url.origin}/admin/devices/weatherstation/ws-001/credentials`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminToken}` },
    });
    const credentials = (await minted.json()) as { username: string; password: string };
    const device = await mqtt.connectAsync(mqttUrl, { ...credentials, clientId: credentials.username });
    try {
      await device.subscribeAsync('things/weatherstation/ws-001/cmd', { qos: 1 });
      device.on('message', (_topic, payload) => {
        const { request_id } = JSON.parse(payload.toString()) as { request_id: string };
        void device.publishAsync(
          'things/weatherstation/ws-001/cmd/response',
          JSON.stringify({ request_id, result: 'ok' }),
        );
      });
      await device.publishAsync('things/weatherstation/ws-001/data', JSON.stringify({ temperature: 20.5 }), { qos: 1 });

      const auth = { Authorization: `Bearer ${token}` };
      const ids = await waitFor(async () => {
        const res = await fetch(`${url.origin}/api/devices`, { headers: auth });
        const { devices } = (await res.json()) as { devices: { device_id: string }[] };
        return devices.length > 0 ? devices.map((d) => d.device_id) : undefined;
      }, 'the device in the registry');
      expect(ids).toEqual(['ws-001']);
      const answer = await fetch(`${url.origin}/api/devices/weatherstation/ws-001/commands`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ command: 'reboot', timeout: 5 }),
      });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ request_id: expect.any(String), result: 'ok' });
    } finally {
      await device.endAsync();
    }
  }, 60_000);
});

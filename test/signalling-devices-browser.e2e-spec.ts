import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import { launchChromium } from './support/browser';
import { clientToken } from './support/web-clients';
import type { SdkPeer } from './fixtures/signalling/clients';
import { adminFetch, sdkPeer } from './fixtures/signalling/clients';
import { buildDashboard } from './dashboard-build';

jest.setTimeout(60_000);

const DEVICE = 'sensor/sensor-42';
const row = `tr[data-device="${DEVICE}"]`;
const chart = (reading: string): string => `[data-testid="device-view"] figure[data-reading="${reading}"]`;

/**
 * The dashboard shows a device that speaks signalling (issue #15) like any
 * other: a Metered SDK client on an operator's channel layout
 * (`fleet/{id}/telemetry`) appears in the table with its status and
 * readings, charts them, answers a command from the form, and goes offline
 * when it leaves.
 */
describe('a signalling device on the dashboard, in headless Chromium', () => {
  let storage: Storage;
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let device: SdkPeer;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    await buildDashboard();
    storage = await freshStorage();
    const mapping = {
      'fleet/{id}/telemetry': { type: 'sensor', kind: 'data' },
      'fleet/{id}/state': { type: 'sensor', kind: 'status' },
      'fleet/{id}/cmd': { type: 'sensor', kind: 'cmd' },
    };
    app = await bootApp({ SIGNALLING_DEVICE_CHANNELS: JSON.stringify(mapping) }, storage);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterAll(async () => {
    await browser?.close();
    await device?.client.close();
    await app?.stop();
    await storage?.dispose();
  });

  it('lists it, charts its readings, commands it and shows it offline when it leaves', async () => {
    const token = clientToken(app, { peerId: 'operator', permissions: ['subscribe', 'publish'], expiresInSec: 3600 });
    await page.goto(`${app.url}/?token=${token}`);
    await page.waitForSelector('[data-testid="stream-state"][data-state="live"]');

    // The device's own code: the SDK, a token from the admin API, its usual channels.
    const minted = await adminFetch(app, 'POST', `/admin/devices/${DEVICE}/token`);
    device = sdkPeer(app, { token: minted.body.token as string });
    await device.client.connect();
    await device.client.subscribe('fleet/sensor-42/cmd');
    device.client.on('message', (m) => {
      const cmd = m.data as { request_id: string; command: string; payload: unknown };
      void device.client.publish('fleet/sensor-42/cmd/response', {
        request_id: cmd.request_id,
        result: { accepted: cmd.command, payload: cmd.payload },
      });
    });
    await page.waitForSelector(`${row}[data-status="online"]`, { timeout: 5000 });

    await device.client.publish('fleet/sensor-42/state', {
      status: 'online',
      battery_level: 77,
      firmware_version: '3.0.1',
    });
    await device.client.publish('fleet/sensor-42/telemetry', { temperature: 21.5, humidity: 40 });
    await page.waitForSelector(`${row} [data-reading="temperature"]`, { timeout: 5000 });
    expect(await page.textContent(`${row} [data-reading="temperature"]`)).toBe('temperature 21.50');
    expect(await page.textContent(`${row} .battery .label`)).toBe('77 %');
    expect(await page.textContent(row)).toContain('3.0.1');

    await page.click(row);
    await page.waitForSelector(`${chart('temperature')}[data-points="1"]`);
    await device.client.publish('fleet/sensor-42/telemetry', { temperature: 22, humidity: 41 });
    await page.waitForSelector(`${chart('temperature')}[data-points="2"]`, { timeout: 5000 });

    await page.fill('[data-testid="command-name"]', 'set_interval');
    await page.fill('[data-testid="command-payload"]', '{"interval": 5}');
    await page.click('[data-testid="command-send"]');
    await page.waitForSelector('[data-testid="command-result"][data-state="answered"]', { timeout: 5000 });
    expect(await page.textContent('[data-testid="command-result"]')).toContain('"accepted": "set_interval"');

    await page.evaluate('window.scrollTo(0, 0)');
    const shots = join(__dirname, '..', 'test-results');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, 'signalling-device.png') });

    await device.client.close();
    await page.waitForSelector(`${row}[data-status="offline"]`, { timeout: 5000 });
    expect(pageErrors).toEqual([]);
  });
});

import type mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { freePort } from './cluster/cluster-harness';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import { launchChromium, screenshot } from './support/browser';
import { waitFor } from './support/wait';
import { clientToken, connectDevice } from './support/web-clients';
import { buildDashboard } from './dashboard-build';

jest.setTimeout(120_000);

const DEVICE = 'weatherstation/ws-001';
const row = `tr[data-device="${DEVICE}"]`;
const chart = (reading: string): string => `[data-testid="device-view"] figure[data-reading="${reading}"]`;

/**
 * The dashboard at `/` (issue #6) in headless Chromium, driven as an operator
 * uses it: opened from the start-up URL, fed by a real MQTT device, commanding
 * it, and riding out a restart of the service.
 */
describe('dashboard in headless Chromium', () => {
  let storage: Storage;
  let env: Record<string, string>;
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let device: mqtt.MqttClient;
  const pageErrors: string[] = [];
  const commands: { command: string; payload: unknown }[] = [];

  /** A device as the simulator and real ones behave: publishes, and answers every command on `cmd/response`. */
  async function startDevice(): Promise<mqtt.MqttClient> {
    const client = await connectDevice(app, 'dashboard-device');
    const prefix = app.config.mqtt.topicPrefix;
    await client.subscribeAsync(`${prefix}/${DEVICE}/cmd`, { qos: 1 });
    client.on('message', (_topic, payload) => {
      const cmd = JSON.parse(payload.toString()) as { request_id: string; command: string; payload: unknown };
      commands.push(cmd);
      const answer = { request_id: cmd.request_id, result: { accepted: cmd.command, payload: cmd.payload } };
      void client.publishAsync(`${prefix}/${DEVICE}/cmd/response`, JSON.stringify(answer), { qos: 1 });
    });
    return client;
  }

  const publish = (kind: string, body: Record<string, unknown>, id = DEVICE): Promise<unknown> =>
    device.publishAsync(`${app.config.mqtt.topicPrefix}/${id}/${kind}`, JSON.stringify(body), { qos: 1 });

  const points = async (reading: string): Promise<number> =>
    Number(await page.locator(chart(reading)).getAttribute('data-points'));

  /** Ids of the event-log rows, newest first. */
  const loggedIds = (): Promise<string[]> =>
    page.$$eval('[data-testid="event-log"] tbody tr[data-id]', (rows) =>
      rows.map((r) => r.getAttribute('data-id') ?? ''),
    );

  beforeAll(async () => {
    await buildDashboard();
    storage = await freshStorage();
    env = {
      PORT: String(await freePort()),
      JWT_SECRET: 'dashboard-secret-0123456789abcdef',
      ADMIN_TOKEN: 'dashboard-admin-0123',
    };
    app = await bootApp(env, storage);
    device = await startDevice();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterAll(async () => {
    await browser?.close();
    await device?.endAsync();
    await app?.stop();
    await storage?.dispose();
  });

  it('asks for a token when opened without one', async () => {
    await page.goto(`${app.url}/`);
    await page.waitForSelector('[data-testid="token-form"]');
    expect(pageErrors).toEqual([]);
  });

  it('says so when the token expires while the page is open', async () => {
    const shortLived = await browser.newPage();
    shortLived.on('pageerror', (err) => pageErrors.push(err.message));
    try {
      // Long enough for the page to go live first on a loaded CI machine: with 2 s, one run's page was
      // not live before its token ran out, and so never showed `live`.
      await shortLived.goto(`${app.url}/?token=${clientToken(app, { expiresInSec: 6 })}`);
      await shortLived.waitForSelector('[data-testid="stream-state"][data-state="live"]');
      // The stream's last words are `event: token_expired`.
      await shortLived.waitForSelector('[data-testid="stream-state"][data-state="expired"]', { timeout: 15_000 });
      expect(await shortLived.textContent('[data-testid="reconnect-banner"]')).toBe(
        'The token has expired: reload the page with a new one.',
      );
    } finally {
      await shortLived.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('shows devices live, charts their readings, sends a command, and rides out a restart', async () => {
    // The URL printed at start-up: a token that may also send commands.
    const token = clientToken(app, { peerId: 'operator', permissions: ['subscribe', 'publish'], expiresInSec: 3600 });
    await page.goto(`${app.url}/?token=${token}`);
    await page.waitForSelector('[data-testid="stream-state"][data-state="live"]');
    expect(await page.isHidden('[data-testid="reconnect-banner"]')).toBe(true);
    expect(new URL(page.url()).search).toBe(''); // the token left the address bar

    // A device appears within a second of its first MQTT message.
    await publish('data', { temperature: 21.5, humidity: 40 });
    await page.waitForSelector(row, { timeout: 1000 });
    expect(await page.textContent(`${row} [data-reading="temperature"]`)).toBe('temperature 21.50');
    await publish('status', { status: 'low_battery', battery_level: 12.5, firmware_version: '2.1.3' });
    await page.waitForSelector(`${row}[data-status="low_battery"]`, { timeout: 1000 });
    expect(await page.textContent(`${row} .battery .label`)).toBe('13 %');
    expect(await page.textContent(row)).toContain('2.1.3');

    // The device view: history from the readings API, then a point per data event.
    await page.click(row);
    await page.waitForSelector('[data-testid="history-state"][data-state="loaded"]');
    await page.waitForSelector(`${chart('temperature')}[data-points="1"]`);
    await publish('data', { temperature: 22, humidity: 41 });
    await page.waitForSelector(`${chart('temperature')}[data-points="2"]`, { timeout: 1000 });
    expect(await points('humidity')).toBe(2);

    // A command round-trips: the form posts it, the device answers on cmd/response, the page shows the answer.
    await page.fill('[data-testid="command-name"]', 'set_interval');
    await page.fill('[data-testid="command-payload"]', '{"interval": 5}');
    await page.click('[data-testid="command-send"]');
    await page.waitForSelector('[data-testid="command-result"][data-state="answered"]');
    expect(commands).toEqual([expect.objectContaining({ command: 'set_interval', payload: { interval: 5 } })]);
    expect(await page.textContent('[data-testid="command-result"]')).toContain('"accepted": "set_interval"');

    // The event log, filtered to one event type.
    await page.selectOption('[data-testid="log-type"]', 'command_response');
    await waitFor(async () => ((await loggedIds()).length === 1 ? true : undefined), 'one command_response row');
    await page.selectOption('[data-testid="log-type"]', '');
    const before = await loggedIds();
    expect(new Set(before).size).toBe(before.length);

    // The service restarts. While it is away (and while the page cannot reach it yet) the banner shows;
    // the events published meanwhile arrive once, after the last id the page had.
    await page.route('**/iot/stream/**', (route) => route.abort());
    await device.endAsync();
    await app.stop();
    await page.waitForSelector('[data-testid="reconnect-banner"]:not([hidden])', { timeout: 5000 });
    expect(await page.getAttribute('[data-testid="stream-state"]', 'data-state')).toBe('reconnecting');
    app = await bootApp(env, storage);
    device = await startDevice();
    await publish('data', { temperature: 23, humidity: 42 });
    await publish('status', { status: 'online', battery_level: 99 });
    await waitFor(async () => {
      const res = await fetch(`${app.url}/api/devices/${DEVICE}`, { headers: { Authorization: `Bearer ${token}` } });
      return ((await res.json()) as { battery_level?: number }).battery_level === 99 ? true : undefined;
    }, 'the events in the registry');
    expect(await page.isVisible('[data-testid="reconnect-banner"]')).toBe(true);
    await page.unroute('**/iot/stream/**');
    await page.waitForSelector('[data-testid="reconnect-banner"]', { state: 'hidden', timeout: 15_000 });
    await page.waitForSelector(`${row}[data-status="online"]`, { timeout: 5000 });
    await page.waitForSelector(`${chart('temperature')}[data-points="3"]`, { timeout: 5000 });
    const after = await loggedIds();
    expect(new Set(after).size).toBe(after.length);
    expect(after.slice(after.length - before.length)).toEqual(before);
    expect(after.length).toBe(before.length + 2);

    // More devices, and a few minutes of one device's readings (device timestamps), for the README screenshot.
    for (const [id, temperature] of [
      ['ws-002', 18.2],
      ['ws-003', 25.9],
      ['ws-004', 14.7],
    ] as const) {
      await publish(
        'status',
        { status: 'online', battery_level: 60 + temperature, firmware_version: '2.2.0' },
        `weatherstation/${id}`,
      );
      if (id !== 'ws-002') await publish('data', { temperature, humidity: 55 }, `weatherstation/${id}`);
    }
    const now = Date.now();
    for (let i = 24; i >= 0; i--) {
      const timestamp = new Date(now - i * 10_000).toISOString();
      const sample = { temperature: 18 + 2 * Math.sin(i / 4), humidity: 55 + 6 * Math.cos(i / 5), timestamp };
      await publish('data', sample, 'weatherstation/ws-002');
    }
    await page.waitForSelector('[data-testid="device-count"]:text-is("4")');
    await waitFor(async () => {
      const res = await fetch(`${app.url}/api/devices/weatherstation/ws-002/readings?reading=temperature`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      return ((await res.json()) as { readings: unknown[] }).readings.length === 25 ? true : undefined;
    }, 'the readings stored');
    await page.goto(`${app.url}/#/device/weatherstation/ws-002`);
    await page.waitForSelector(`${chart('temperature')}[data-points="25"]`);
    await page.evaluate('window.scrollTo(0, 0)');
    await screenshot(page, 'dashboard', 'dashboard.png');
    expect(pageErrors).toEqual([]);
  });
});

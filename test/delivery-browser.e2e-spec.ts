import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort } from './cluster/cluster-harness';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import { launchChromium } from './support/browser';
import { clientToken, connectDevice, publishNumbers, range } from './support/web-clients';

jest.setTimeout(90_000);

/**
 * A page written the way DeviceHub's front-end examples are: the browser's
 * own EventSource and WebSocket on relative paths, JSON.parse of each
 * message, the session riding in a cookie. It records what it saw for the test.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>DeviceHub example</title></head>
<body><ul id="log"></ul><script>
  window.seen = { sse: [], sseIds: [], ws: [], pongs: 0, connected: 0, errors: [] };
  const log = (text) => { const li = document.createElement('li'); li.textContent = text; document.getElementById('log').append(li); };

  const source = new EventSource('/iot/stream/weatherstation/');
  source.addEventListener('connected', (e) => { window.seen.connected++; log('connected ' + e.data); });
  source.addEventListener('data', (e) => {
    const event = JSON.parse(e.data);
    window.seen.sse.push(event.data.n);
    window.seen.sseIds.push(e.lastEventId);
    log('sse ' + event.device_id + ' ' + JSON.stringify(event.data));
  });

  const socket = new WebSocket('ws://' + location.host + '/ws/iot/weatherstation/');
  socket.onopen = () => socket.send(JSON.stringify({ action: 'ping' }));
  socket.onmessage = (e) => {
    const message = JSON.parse(e.data);
    if (message.event === 'pong') window.seen.pongs++;
    else if (message.event === 'data') { window.seen.ws.push(message.data.n); log('ws ' + message.device_id); }
  };
</script></body></html>`;

describe("DeviceHub-style page in headless Chromium (browser's own EventSource and WebSocket)", () => {
  let storage: Storage;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let app: TestApp;
  const pageErrors: string[] = [];
  let env: Record<string, string>;

  const seen = (): Promise<{ sse: number[]; sseIds: string[]; ws: number[]; pongs: number; connected: number }> =>
    page.evaluate(() => (globalThis as unknown as { seen: never }).seen);

  beforeAll(async () => {
    storage = await freshStorage();
    env = {
      PORT: String(await freePort()),
      JWT_SECRET: 'browser-secret-0123456789abcdef',
      ADMIN_TOKEN: 'browser-admin-012345',
    };
    app = await bootApp(env, storage);
    // The page is fulfilled by Playwright, so it has no address space of its own; Chromium's Local Network
    // Access checks would then treat it as public and block its WebSocket to this loopback service.
    browser = await launchChromium('LocalNetworkAccessChecks');
    context = await browser.newContext();
    await context.addCookies([{ name: 'token', value: clientToken(app, { expiresInSec: 600 }), url: app.url }]);
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // The page is served from the service's own origin, as DeviceHub serves its templates.
    await page.route(`${app.url}/example.html`, (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
    await page.goto(`${app.url}/example.html`);
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await storage?.dispose();
  });

  it('receives live events on both, answers ping, and resumes the EventSource by itself across a restart', async () => {
    await page.waitForFunction(() => {
      const s = (globalThis as unknown as { seen: { connected: number; pongs: number } }).seen;
      return s.connected >= 1 && s.pongs >= 1;
    });
    let device = await connectDevice(app, 'browser');
    const numbers = range(1, 8);
    await publishNumbers(app, device, 'weatherstation', 'ws-001', numbers.slice(0, 4));
    await page.waitForFunction(() => {
      const s = (globalThis as unknown as { seen: { sse: number[]; ws: number[] } }).seen;
      return s.sse.length >= 4 && s.ws.length >= 4;
    });
    const before = await seen();
    expect(before.sse).toEqual(numbers.slice(0, 4));
    expect(before.ws).toEqual(numbers.slice(0, 4));
    expect(before.sseIds.every((id) => /^\d+$/.test(id))).toBe(true);

    await device.endAsync();
    await app.stop();
    app = await bootApp(env, storage);
    device = await connectDevice(app, 'browser');
    await publishNumbers(app, device, 'weatherstation', 'ws-001', numbers.slice(4));
    await device.endAsync();
    // The browser's EventSource reconnected with Last-Event-ID: the events published meanwhile arrive once, in order.
    await page.waitForFunction(
      () => (globalThis as unknown as { seen: { sse: number[] } }).seen.sse.length >= 8,
      undefined,
      {
        timeout: 20_000,
      },
    );
    const after = await seen();
    expect(after.sse).toEqual(numbers);
    expect(after.connected).toBeGreaterThanOrEqual(2);
    const shots = join(__dirname, '..', 'test-results');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, 'devicehub-example.png') });
    expect(pageErrors).toEqual([]);
  });
});

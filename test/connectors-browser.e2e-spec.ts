/**
 * The dashboard's connectors page (issue #16) in headless Chromium, as an
 * operator uses it: asks for the admin token, shows each connector's
 * state, lag and last answer (a failing one says so), pauses and resumes,
 * sends a test delivery.
 */
import type { Browser, Page } from 'playwright-core';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { launchChromium, screenshot } from './support/browser';
import { CONNECTOR_TEST_ENV, admin, publishEvents } from './support/connectors';
import { waitFor } from './support/wait';
import { WebhookReceiver } from './support/webhook-receiver';
import { clientToken } from './support/web-clients';
import { buildDashboard } from './dashboard-build';

jest.setTimeout(60_000);

describe('connectors page in headless Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  const good = new WebhookReceiver();
  const bad = new WebhookReceiver();
  const pageErrors: string[] = [];

  beforeAll(async () => {
    await buildDashboard();
    await good.start();
    await bad.start();
    bad.answer = () => ({ status: 503, body: 'maintenance' });
    app = await bootApp(CONNECTOR_TEST_ENV);
    await admin(app, 'POST', '/admin/connectors', { name: 'warehouse', url: good.url });
    await admin(app, 'POST', '/admin/connectors', { name: 'alerting', url: bad.url, event_types: ['data'] });
    await publishEvents(app, 5);
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${app.url}/?token=${clientToken(app)}#/connectors`);
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await good.stop();
    await bad.stop();
  });
  afterEach(() => expect(pageErrors).toEqual([]));

  const state = (name: string): Promise<string | null> =>
    page.getAttribute(`tr[data-connector="${name}"]`, 'data-state');

  it('shows each connector with its state, lag and last answer once given the admin token', async () => {
    await page.fill('[data-testid="admin-token-input"]', app.adminToken);
    await page.click('[data-testid="admin-token-submit"]');
    await page.waitForSelector('[data-testid="connectors-table"] tr[data-connector="warehouse"]');
    await waitFor(async () => ((await state('alerting')) === 'failing' ? true : undefined), 'alerting failing', 10_000);
    const failing = page.locator('tr[data-connector="alerting"]');
    expect(await failing.locator('[data-testid="connector-error"]').textContent()).toContain('HTTP 503: maintenance');
    expect(await failing.locator('[data-testid="connector-lag"]').textContent()).toMatch(/^[1-9]\d* events/);
    expect(await state('warehouse')).toBe('ok');
    expect(await page.locator('tr[data-connector="warehouse"] [data-testid="connector-lag"]').textContent()).toMatch(
      /^0 events/,
    );
    await screenshot(page, 'connectors', 'screenshots/connectors.png');
  });

  it('pauses and resumes a connector, and sends a test delivery', async () => {
    await page.click('tr[data-connector="alerting"] [data-action="pause"]');
    await waitFor(async () => ((await state('alerting')) === 'paused' ? true : undefined), 'alerting paused');
    await page.click('tr[data-connector="alerting"] [data-action="resume"]');
    await waitFor(async () => ((await state('alerting')) !== 'paused' ? true : undefined), 'alerting resumed');
    good.requests.length = 0;
    await page.click('tr[data-connector="warehouse"] [data-action="test"]');
    await waitFor(
      async () =>
        (await page.textContent('[data-testid="connectors-notice"]'))?.includes('answered 200') ? true : undefined,
      'the test result',
    );
    expect(good.requests.some((r) => r.body.test === true)).toBe(true);
  });
});

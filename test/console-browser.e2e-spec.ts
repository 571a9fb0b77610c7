import type mqtt from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort } from './cluster/cluster-harness';
import type { Storage, TestApp } from './support/app';
import { backends, bootApp, declareTypes, freshStorage } from './support/app';
import { launchChromium, screenshot } from './support/browser';

import { waitFor } from './support/wait';
import { mint, sdkPeer } from './fixtures/signalling/clients';
import { clientToken, connectDevice } from './support/web-clients';
import { buildDashboard } from './dashboard-build';

jest.setTimeout(120_000);

const VIEWPORT = { width: 1280, height: 800 };
const ADMIN_TOKEN = 'console-admin-0123456789';

/** What the page-side measurement reads of a table cell. */
interface HTMLLikeCell {
  scrollWidth: number;
  clientWidth: number;
  getBoundingClientRect(): { right: number };
}

interface StatsBody {
  devices: { total: number; online: number; offline: number; error: number; silent: number };
}

/**
 * The operator console (issue #19) in headless Chromium at 1280×800, driven
 * as an operator uses it, against a fleet of real MQTT devices: the event
 * log's columns, the fleet overview, the rejects page, a device's command
 * history and the device table's sparklines, sorting, filters and `silent`.
 */
describe('operator console in headless Chromium', () => {
  let storage: Storage;
  let app: TestApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let device: mqtt.MqttClient;
  let token: string;
  const pageErrors: string[] = [];

  const publish = (path: string, body: unknown): Promise<unknown> =>
    device.publishAsync(
      `${app.config.mqtt.topicPrefix}/${path}`,
      typeof body === 'string' ? body : JSON.stringify(body),
      { qos: 1 },
    );

  const shot = (name: string): Promise<void> => screenshot(page, name, `screenshots/${name}.png`);

  beforeAll(async () => {
    await buildDashboard();
    storage = await freshStorage();
    // `blinker` falls silent after 4 s and is swept offline after 10 s; the others keep the 300 s default.
    const types = declareTypes(storage, {
      accept_undeclared: true,
      types: { blinker: { heartbeat_interval: 4, readings: { level: { type: 'number' } }, commands: {} } },
    });
    app = await bootApp(
      {
        PORT: String(await freePort()),
        JWT_SECRET: 'console-secret-0123456789abcdef',
        ADMIN_TOKEN,
        DEVICE_TYPES: types,
      },
      storage,
    );
    device = await connectDevice(app, 'console-fleet');
    token = clientToken(app, { peerId: 'operator', permissions: ['subscribe', 'publish'], expiresInSec: 3600 });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: VIEWPORT });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${app.url}/?token=${token}`);
    await page.waitForSelector('[data-testid="stream-state"][data-state="live"]');
  });
  afterAll(async () => {
    await browser?.close();
    await device?.endAsync();
    await app?.stop();
    await storage?.dispose();
  });
  afterEach(() => expect(pageErrors).toEqual([]));

  /** Each header's [left, right] and the x-range of every cell under it, row by row. */
  const logColumns = (): Promise<{
    headers: { name: string; left: number; right: number }[];
    rows: { left: number; right: number; scrollWidth: number; clientWidth: number }[][];
    table: { left: number; right: number };
  }> =>
    page.$eval('[data-testid="event-log"]', (table) => {
      const box = (el: {
        getBoundingClientRect(): { left: number; right: number };
      }): { left: number; right: number } => {
        const r = el.getBoundingClientRect();
        return { left: r.left, right: r.right };
      };
      return {
        table: box(table),
        headers: [...table.querySelectorAll('thead th')].map((th) => ({ name: th.textContent ?? '', ...box(th) })),
        rows: [...table.querySelectorAll('tbody tr[data-id]')].map((tr) =>
          [...tr.querySelectorAll('td')].map((td) => ({
            ...box(td),
            scrollWidth: td.scrollWidth,
            clientWidth: td.clientWidth,
          })),
        ),
      };
    });

  it.each([1280, 800])('event log: every cell sits under its header at %i px wide', async (width) => {
    await page.setViewportSize({ width, height: VIEWPORT.height });
    const long = { note: 'x'.repeat(400), temperature: 21.5 };
    await publish('weatherstation/ws-log/data', long);
    await publish('weatherstation/ws-log/status', { status: 'online', battery_level: 80 });
    await page.waitForSelector(
      '[data-testid="event-log"] tbody tr[data-event="status"][data-device="weatherstation/ws-log"]',
    );
    const { headers, rows, table } = await logColumns();
    expect(headers.map((h) => h.name)).toEqual(['Time', 'Id', 'Event', 'Device', 'Data']);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const cells of rows) {
      expect(cells).toHaveLength(headers.length);
      cells.forEach((cell, i) => {
        // The cell starts and ends where its header does (within a pixel of rounding).
        expect([headers[i].name, Math.abs(cell.left - headers[i].left) <= 1]).toEqual([headers[i].name, true]);
        expect([headers[i].name, Math.abs(cell.right - headers[i].right) <= 1]).toEqual([headers[i].name, true]);
        expect(cell.right).toBeLessThanOrEqual(table.right + 1);
      });
    }
    // The long data is cut inside its cell (ellipsis), not drawn past the table's right edge.
    // Looked up and measured in one evaluation: the log redraws its rows as events arrive.
    const data = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { querySelector(s: string): HTMLLikeCell | null } }).document;
      const view = globalThis as unknown as { getComputedStyle(e: unknown): { textOverflow: string } };
      const td = doc.querySelector(
        '[data-testid="event-log"] tbody tr[data-event="data"][data-device="weatherstation/ws-log"] td:last-child',
      );
      if (td === null) return undefined;
      return {
        overflow: view.getComputedStyle(td).textOverflow,
        scroll: td.scrollWidth,
        client: td.clientWidth,
        right: td.getBoundingClientRect().right,
      };
    });
    if (data === undefined) throw new Error('no data row of ws-log in the event log');
    expect(data.overflow).toBe('ellipsis');
    expect(data.scroll).toBeGreaterThan(data.client);
    expect(data.right).toBeLessThanOrEqual(table.right + 1);
    await page.locator('[data-testid="event-log"]').scrollIntoViewIfNeeded();
    if (width === 1280) await shot('event-log');
    await page.setViewportSize(VIEWPORT);
  });

  /** `GET /api/stats` as the page reads it. */
  const stats = async (): Promise<StatsBody> => {
    const res = await fetch(`${app.url}/api/stats`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as StatsBody;
  };
  const text = async (selector: string): Promise<string> => (await page.textContent(selector)) ?? '';
  const visibleRows = (): Promise<string[]> =>
    page.$$eval('[data-testid="device-table"] tbody tr', (rows) =>
      rows.map((r) => r.getAttribute('data-device') ?? ''),
    );

  it('fleet overview: counts that filter the table, a live rate chart, the log and the backends, the instances', async () => {
    await page.goto(`${app.url}/#/`);
    await page.waitForSelector('[data-testid="stream-state"][data-state="live"]');
    for (const id of ['ws-a', 'ws-b', 'ws-c'])
      await publish(`weatherstation/${id}/data`, { temperature: 20, humidity: 50 });
    await publish('weatherstation/ws-err/status', { status: 'error', battery_level: 40 });
    await publish('weatherstation/ws-gone/status', { status: 'offline' });
    await publish('weatherstation/ws-a/data', 'not json at all');
    // The counts are the registry's (committed events only: with an external broker the PUBACK comes
    // before the commit), and each one filters the table.
    await waitFor(
      async () => ((await text('[data-testid="count-error"] strong')) === '1' ? true : undefined),
      'one device in error',
    );
    expect(await text('[data-testid="count-offline"] strong')).toBe('1');
    await waitFor(async () => {
      const online = (await stats()).devices.online;
      return online >= 3 && Number(await text('[data-testid="count-online"] strong')) === online ? true : undefined;
    }, 'the online count as /api/stats gives it');
    await page.click('[data-testid="count-error"]');
    await waitFor(
      async () => ((await visibleRows()).join() === 'weatherstation/ws-err' ? true : undefined),
      'only ws-err listed',
    );
    expect(await page.getAttribute('[data-testid="count-error"]', 'aria-pressed')).toBe('true');
    await page.click('[data-testid="count-offline"]');
    await waitFor(
      async () => ((await visibleRows()).join() === 'weatherstation/ws-gone' ? true : undefined),
      'only ws-gone listed',
    );
    await page.click('[data-testid="count-offline"]');
    await waitFor(async () => ((await visibleRows()).length >= 5 ? true : undefined), 'every device again');

    // Messages and rejects per second: the chart follows the service's 2 s samples.
    await waitFor(
      async () => {
        const chart = await page.$eval('[data-testid="rate-chart"]', (el) => ({
          ...(el as unknown as { dataset: Record<string, string> }).dataset,
        }));
        return Number(chart.points) >= 1 && Number(chart.maxMessages) > 0 && Number(chart.maxRejects) > 0
          ? true
          : undefined;
      },
      'messages and rejects in the rate chart',
      10_000,
    );
    expect(await page.locator('[data-testid="rate-chart"] canvas').count()).toBe(1);
    expect(await text('[data-testid="log-write"]')).toMatch(/ms avg/);
    expect(await text('[data-testid="log-lag"]')).toMatch(/^\d+ ms \(\d+ waiting\)$/);

    // The backends as /health sees them.
    const health = (await (await fetch(`${app.url}/health`)).json()) as { redis?: { connected: boolean } };
    expect(await page.getAttribute('[data-backend="broker"]', 'data-state')).toBe('up');
    expect(await page.getAttribute('[data-backend="database"]', 'data-state')).toBe('up');
    expect(await page.getAttribute('[data-backend="redis"]', 'data-state')).toBe(health.redis ? 'up' : 'absent');

    if (backends.redisUrl && backends.databaseUrl?.startsWith('postgres')) {
      // A second instance on the same log and Redis: both are listed up, and one of them leads.
      const other = await bootApp(
        { PORT: String(await freePort()), JWT_SECRET: 'console-secret-0123456789abcdef', ADMIN_TOKEN },
        storage,
      );
      try {
        await waitFor(
          async () =>
            (await page.locator('[data-testid="instances"] li[data-state="up"]').count()) === 2 ? true : undefined,
          'two instances up',
          15_000,
        );
        expect(await page.locator('[data-testid="instances"] li[data-leader="true"]').count()).toBe(1);
        await shot('overview');
      } finally {
        await other.stop();
      }
      await waitFor(
        async () =>
          (await page.locator('[data-testid="instances"] li[data-state="down"]').count()) >= 0 &&
          (await page.locator('[data-testid="instances"] li[data-state="up"]').count()) === 1
            ? true
            : undefined,
        'the stopped instance no longer up',
        15_000,
      );
    } else {
      // One instance without Redis: it alone runs the once-only duties.
      const instances = page.locator('[data-testid="instances"] li');
      expect(await instances.count()).toBe(1);
      expect(await instances.first().getAttribute('data-leader')).toBe('true');
      expect(await instances.first().getAttribute('data-state')).toBe('up');
      await page.evaluate('window.scrollTo(0, 0)');
      await shot('overview');
    }
  });

  it('rejects page: asks for the admin token, keeps it for the tab, lists rejects as text, filters, copies', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    await publish('weatherstation/ws-bad/data', hostile);
    await publish('weatherstation/ws-bad/data', '[1, 2, 3]');
    await publish('weatherstation/ws-other/data', 'plain garbage');
    await page.goto(`${app.url}/#/`);
    // The navigation says which page needs the admin token.
    expect(await page.getAttribute('[data-nav="rejects"]', 'data-needs-admin')).toBe('true');
    expect(await page.getAttribute('[data-nav="fleet"]', 'data-needs-admin')).toBeNull();
    await page.click('[data-nav="rejects"]');
    await page.waitForSelector('[data-testid="admin-token-form"]');

    await page.fill('[data-testid="admin-token-input"]', 'not-the-admin-token');
    await page.click('[data-testid="admin-token-submit"]');
    await page.waitForSelector('[data-testid="admin-token-error"]');
    expect(await text('[data-testid="admin-token-error"]')).toContain('That admin token was refused (401)');
    expect(await page.evaluate("sessionStorage.getItem('devicehub.admin')")).toBeNull();

    await page.fill('[data-testid="admin-token-input"]', ADMIN_TOKEN);
    await page.click('[data-testid="admin-token-submit"]');
    await page.waitForSelector('[data-testid="rejects-table"] tbody tr');
    expect(await page.evaluate("sessionStorage.getItem('devicehub.admin')")).toBe(ADMIN_TOKEN);
    expect(await page.evaluate('JSON.stringify(Object.values(localStorage))')).not.toContain(ADMIN_TOKEN);

    // The hostile payload is text on the page: no element made of it, no script run.
    const row = page.locator('[data-testid="rejects-table"] tbody tr', { hasText: 'onerror' });
    expect(await row.locator('[data-testid="reject-payload"]').textContent()).toBe(hostile);
    expect(await page.locator('[data-testid="rejects-page"] img').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await row.getAttribute('data-reason')).toBe('not_json');
    expect(await row.locator('td').nth(1).textContent()).toBe(
      `${app.config.mqtt.topicPrefix}/weatherstation/ws-bad/data`,
    );

    // Counts by reason, since start-up (the overview's not-JSON message is one of them).
    expect(await page.locator('[data-testid="reject-counts"] li[data-reason="not_json"] strong').textContent()).toBe(
      '3',
    );
    expect(await page.locator('[data-testid="reject-counts"] li[data-reason="not_object"] strong').textContent()).toBe(
      '1',
    );

    // Filtered by reason (the service) and by device (the page).
    await page.selectOption('[data-testid="rejects-reason"]', 'not_object');
    await waitFor(async () => {
      const reasons = await page.$$eval('[data-testid="rejects-table"] tbody tr', (rows) =>
        rows.map((r) => r.getAttribute('data-reason')),
      );
      return reasons.length === 1 && reasons[0] === 'not_object' ? true : undefined;
    }, 'only the not_object reject');
    await page.selectOption('[data-testid="rejects-reason"]', '');
    await page.waitForSelector('[data-testid="rejects-table"] tbody tr[data-reason="not_json"]');
    await page.fill('[data-testid="rejects-device"]', 'ws-bad');
    await waitFor(async () => {
      const topics = await page.$$eval('[data-testid="rejects-table"] tbody tr td:nth-child(2)', (cells) =>
        cells.map((c) => c.textContent ?? ''),
      );
      return topics.length === 2 && topics.every((t) => t.includes('/ws-bad/')) ? true : undefined;
    }, 'only ws-bad rejects');

    // The copy button puts the raw payload on the clipboard.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.url });
    await row.locator('[data-testid="reject-copy"]').click();
    await row.locator('[data-testid="reject-copy"][data-state="copied"]').waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(hostile);
    await page.evaluate('window.scrollTo(0, 0)');
    await shot('rejects');

    // Kept for the tab: back on the page, no question; a new tab (its own session) asks again.
    await page.click('[data-nav="fleet"]');
    await page.click('[data-nav="rejects"]');
    await page.waitForSelector('[data-testid="rejects-table"]');
    const other = await context.newPage();
    try {
      await other.goto(`${app.url}/#/rejects`);
      await other.waitForSelector('[data-testid="admin-token-form"]');
    } finally {
      await other.close();
    }
  });

  it("command history: a device's commands, newest first, with who sent them and the answer or the timeout", async () => {
    const key = 'weatherstation/ws-cmd';
    const prefix = app.config.mqtt.topicPrefix;
    await device.subscribeAsync(`${prefix}/${key}/cmd`, { qos: 1 });
    device.on('message', (topic, payload) => {
      if (topic !== `${prefix}/${key}/cmd`) return;
      const cmd = JSON.parse(payload.toString()) as { request_id: string; command: string; payload: unknown };
      // This device never answers `ignore_me`.
      if (cmd.command === 'ignore_me') return;
      const answer = { request_id: cmd.request_id, result: { done: cmd.command } };
      void device.publishAsync(`${prefix}/${key}/cmd/response`, JSON.stringify(answer), { qos: 1 });
    });
    await publish(`${key}/data`, { temperature: 19 });
    await waitFor(async () => ((await stats()).devices.total >= 1 ? true : undefined), 'registered');
    const rest = (body: unknown): Promise<Response> =>
      fetch(`${app.url}/api/devices/${key}/commands`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${app.adminToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    // Before the view opens: a REST command answered, and one that times out.
    expect((await rest({ command: 'reboot', payload: {}, timeout: 5 })).status).toBe(200);
    expect((await rest({ command: 'ignore_me', payload: { n: 1 }, timeout: 0.5 })).status).toBe(504);

    await page.goto(`${app.url}/#/device/weatherstation/ws-cmd`);
    await page.waitForSelector('[data-testid="command-history-state"][data-state="loaded"]');
    const history = (): Promise<{ command: string; source: string; state: string; answer: string }[]> =>
      page.$$eval('[data-testid="command-history"] tbody tr', (rows) =>
        rows.map((r) => ({
          command: r.getAttribute('data-command') ?? '',
          source: r.getAttribute('data-source') ?? '',
          state: r.getAttribute('data-state') ?? '',
          answer: r.lastElementChild?.textContent ?? '',
        })),
      );
    await waitFor(async () => ((await history()).length === 2 ? true : undefined), 'two commands from the log');
    expect(await history()).toEqual([
      { command: 'ignore_me', source: 'rest', state: 'timeout', answer: 'timeout: no answer within 0.5 s' },
      { command: 'reboot', source: 'rest', state: 'answered', answer: '{"done":"reboot"}' },
    ]);

    // From the console's own form: its header marks the command as the console's.
    await page.fill('[data-testid="command-name"]', 'set_interval');
    await page.fill('[data-testid="command-payload"]', '{"interval": 7}');
    await page.click('[data-testid="command-send"]');
    await page.waitForSelector('[data-testid="command-result"][data-state="answered"]');
    // From a signalling channel: a publish on the device's cmd channel.
    const peer = sdkPeer(app, { token: mint(app, { peerId: 'console-signaller', channels: [`${prefix}/**`] }) });
    await peer.client.connect();
    try {
      await peer.client.publish(`${prefix}/${key}/cmd`, { command: 'calibrate', payload: { offset: 1 } });
      await waitFor(async () => ((await history()).length === 4 ? true : undefined), 'four commands');
    } finally {
      await peer.client.close();
    }
    await waitFor(
      async () => ((await history())[0].state === 'answered' ? true : undefined),
      'the channel command answered',
    );
    const rows = await history();
    expect(rows.map((r) => [r.command, r.source, r.state])).toEqual([
      ['calibrate', 'signalling', 'answered'],
      ['set_interval', 'console', 'answered'],
      ['ignore_me', 'rest', 'timeout'],
      ['reboot', 'rest', 'answered'],
    ]);
    expect(
      await page
        .locator('[data-testid="command-history"] tbody tr[data-command="set_interval"] td')
        .nth(2)
        .textContent(),
    ).toBe('{"interval":7}');
    expect(
      await page.locator('[data-testid="command-history"] tbody tr[data-command="calibrate"] td').nth(3).textContent(),
    ).toBe('signalling channel');
    // What an operator reads: every answer and payload whole, none cut at its cell's edge (the answer
    // column got what the others left, about 50 px at 1280: `{"d…`, `time…`).
    const cut = await page.$$eval('[data-testid="command-history"] tbody td', (cells) =>
      cells.filter((td) => td.scrollWidth > td.clientWidth + 1).map((td) => td.textContent),
    );
    expect(cut).toEqual([]);

    // Reopened, the same history comes from the log alone.
    await page.goto(`${app.url}/#/`);
    await page.goto(`${app.url}/#/device/weatherstation/ws-cmd`);
    await page.waitForSelector('[data-testid="command-history-state"][data-state="loaded"]');
    await waitFor(async () => ((await history()).length === 4 ? true : undefined), 'four commands from the log');
    expect((await history()).map((r) => [r.command, r.source, r.state])).toEqual(
      rows.map((r) => [r.command, r.source, r.state]),
    );
    await page.locator('[data-testid="command-history"]').scrollIntoViewIfNeeded();
    await shot('command-history');
  });

  it('device table: sparklines from history and the stream, sorting, filters by type, status and last seen, silent before offline', async () => {
    await page.goto(`${app.url}/#/`);
    await page.waitForSelector('[data-testid="stream-state"][data-state="live"]');
    const blinker = 'tr[data-device="blinker/b-1"]';
    // Several readings: the sparkline grows with each one, no request per row.
    const readingsAsked: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/readings')) readingsAsked.push(r.url());
    });
    for (const [i, level] of [3, 7, 4, 9, 6].entries()) {
      await publish('blinker/b-1/data', { level, timestamp: new Date(Date.now() - (5 - i) * 100).toISOString() });
      await page.waitForSelector(`${blinker} [data-testid="status"]`);
    }
    await page.waitForSelector(`${blinker} svg.sparkline[data-points="5"]`, { timeout: 3000 });
    for (const [i, t] of [18, 19, 21, 20].entries()) {
      await publish('weatherstation/ws-a/data', {
        temperature: t,
        humidity: 50 + i,
        timestamp: new Date(Date.now() - (4 - i) * 100).toISOString(),
      });
    }
    await page.waitForSelector('tr[data-device="weatherstation/ws-a"] svg.sparkline[data-points="5"]', {
      timeout: 3000,
    });
    expect(readingsAsked).toEqual([]);

    // Silent past its 4 s heartbeat, then swept offline after 2.5 heartbeats.
    await page.waitForSelector(`${blinker}[data-shown="silent"]`, { timeout: 8000 });
    expect(await page.getAttribute(blinker, 'data-status')).toBe('online');
    expect(await text(`${blinker} [data-testid="status"]`)).toBe('silent');
    await page.locator('[data-testid="device-table"]').scrollIntoViewIfNeeded();
    await shot('device-table');
    await page.selectOption('[data-testid="filter-status"]', 'silent');
    await waitFor(
      async () => ((await visibleRows()).join() === 'blinker/b-1' ? true : undefined),
      'only the silent device',
    );
    // Swept offline, it leaves the silent filter.
    await waitFor(async () => ((await visibleRows()).length === 0 ? true : undefined), 'no silent device left', 10_000);
    await page.selectOption('[data-testid="filter-status"]', 'offline');
    await page.waitForSelector(`${blinker}[data-status="offline"]`);
    expect(await text(`${blinker} [data-testid="status"]`)).toBe('offline');
    await page.selectOption('[data-testid="filter-status"]', '');

    // Filter by type.
    await page.selectOption('[data-testid="filter-type"]', 'blinker');
    await waitFor(async () => ((await visibleRows()).join() === 'blinker/b-1' ? true : undefined), 'only blinkers');
    await page.selectOption('[data-testid="filter-type"]', '');

    // Sort by id, both ways, and by last seen (newest first).
    const all = await visibleRows();
    const byId = [...all].sort((a, b) => (a.split('/')[1] < b.split('/')[1] ? -1 : 1));
    await page.click('th button[data-sort="id"]');
    await waitFor(async () => ((await visibleRows()).join() === byId.join() ? true : undefined), 'sorted by id');
    expect(await page.getAttribute('th:has(button[data-sort="id"])', 'aria-sort')).toBe('ascending');
    await page.click('th button[data-sort="id"]');
    await waitFor(
      async () => ((await visibleRows()).join() === [...byId].reverse().join() ? true : undefined),
      'sorted by id, descending',
    );
    await page.click('th button[data-sort="seen"]');
    await waitFor(
      async () => ((await visibleRows())[0] === 'weatherstation/ws-a' ? true : undefined),
      'the newest first',
    );

    // Last seen: everything here was heard seconds ago, so "not seen for 10 min" lists only what was never heard
    // (ws-gone, known from its offline status alone); "seen in the last minute" lists the rest.
    await page.selectOption('[data-testid="filter-seen"]', 'stale');
    await waitFor(
      async () => ((await visibleRows()).join() === 'weatherstation/ws-gone' ? true : undefined),
      'only the never-heard device',
    );
    await page.selectOption('[data-testid="filter-seen"]', '1m');
    await waitFor(
      async () => ((await visibleRows()).includes('blinker/b-1') ? true : undefined),
      'the blinker, seen within a minute',
    );
    await page.selectOption('[data-testid="filter-seen"]', '');

    // Readings sent before the page loads: after a reload the sparklines show them, from one history
    // request for the rows in view (not one per row), and the stream appends to them.
    const history = { 'aquarium/aq-1': 12, 'aquarium/aq-2': 7, 'aquarium/aq-3': 3 };
    const start = Date.now() - 60_000;
    for (const [key, count] of Object.entries(history)) {
      for (let i = 0; i < count; i++) {
        await publish(`${key}/data`, {
          temperature: 20 + (i % 3),
          timestamp: new Date(start + i * 1000).toISOString(),
        });
      }
    }
    await waitFor(async () => {
      const res = await fetch(`${app.url}/api/readings/recent?devices=aquarium/aq-1+aquarium/aq-2+aquarium/aq-3`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      const body = (await res.json()) as { devices: { readings: unknown[] }[] };
      return body.devices?.map((d) => d.readings.length).join() === '12,7,3' ? true : undefined;
    }, 'the readings stored');
    const historyAsked: URL[] = [];
    const perDevice: string[] = [];
    const onRequest = (r: { url(): string }): void => {
      const url = new URL(r.url());
      if (url.pathname === '/api/readings/recent') historyAsked.push(url);
      else if (url.pathname.endsWith('/readings')) perDevice.push(url.pathname);
    };
    page.on('request', onRequest);
    await page.goto(`${app.url}/?token=${token}#/`);
    await page.waitForSelector('[data-testid="stream-state"][data-state="live"]');
    await page.waitForSelector('tr[data-device="aquarium/aq-1"] svg.sparkline[data-points="12"]', { timeout: 5000 });
    await page.waitForSelector('tr[data-device="aquarium/aq-2"] svg.sparkline[data-points="7"]', { timeout: 5000 });
    await page.waitForSelector('tr[data-device="aquarium/aq-3"] svg.sparkline[data-points="3"]', { timeout: 5000 });
    const rowsInView = await page.$$eval(
      '[data-testid="device-table"] tbody tr',
      (rows, height) =>
        rows
          .filter((r) => {
            const box = r.getBoundingClientRect();
            return box.bottom > 0 && box.top < height;
          })
          .map((r) => r.getAttribute('data-device')),
      VIEWPORT.height,
    );
    expect(rowsInView.length).toBeGreaterThanOrEqual(3);
    expect(historyAsked).toHaveLength(1);
    expect(historyAsked[0].searchParams.get('limit')).toBe('30');
    expect((historyAsked[0].searchParams.get('devices') ?? '').split(' ').sort()).toEqual([...rowsInView].sort());
    expect(perDevice).toEqual([]);
    await publish('aquarium/aq-1/data', { temperature: 25, timestamp: new Date().toISOString() });
    await page.waitForSelector('tr[data-device="aquarium/aq-1"] svg.sparkline[data-points="13"]', { timeout: 3000 });
    expect(historyAsked).toHaveLength(1);
    page.off('request', onRequest);
  });
});

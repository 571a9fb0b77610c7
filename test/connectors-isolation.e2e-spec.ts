/**
 * Data connectors do not get in each other's way or ingestion's (issue
 * #16): a receiver that takes seconds per request holds back its own
 * connector only. Also: connectors from CONNECTORS, and targets refused
 * while CONNECTORS_ALLOW_PRIVATE is off.
 */
import type { ConnectorView } from '../src/connectors/connector-view';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { CONNECTOR_TEST_ENV, admin, publishEvents } from './support/connectors';
import { waitFor } from './support/wait';
import { WebhookReceiver } from './support/webhook-receiver';

describe('a slow receiver', () => {
  let app: TestApp;
  const slow = new WebhookReceiver();
  const fast = new WebhookReceiver();

  beforeAll(async () => {
    await slow.start();
    await fast.start();
    app = await bootApp({
      ...CONNECTOR_TEST_ENV,
      CONNECTORS: JSON.stringify([
        { name: 'slow', url: slow.url, batch_size: 10, timeout_ms: 5000, secret: 'slow-secret-0123456789' },
      ]),
    });
  });
  afterAll(async () => {
    await app.stop();
    await slow.stop();
    await fast.stop();
  });

  it('holds back its own connector only: ingestion and the other connector go on', async () => {
    slow.answer = () => ({ status: 200, delayMs: 4000 });
    expect(
      (await admin(app, 'POST', '/admin/connectors', { name: 'fast', url: fast.url, batch_size: 10 })).status,
    ).toBe(201);
    const started = Date.now();
    const ids: string[] = [];
    for (let round = 0; round < 10; round++)
      ids.push(...(await publishEvents(app, 20, { from: round * 20 })).map((e) => e.id));
    const ingestMs = Date.now() - started;
    await waitFor(
      () => (fast.acknowledgedIds().length === ids.length ? true : undefined),
      'every event at the fast receiver',
    );
    const fastMs = Date.now() - started;
    expect(fast.acknowledgedIds()).toEqual(ids);
    // The slow receiver has answered at most once by now; its connector is behind, not the others.
    expect(slow.acknowledgedIds().length).toBeLessThanOrEqual(10);
    expect(fastMs).toBeLessThan(4000);
    expect(ingestMs).toBeLessThan(4000);
    const view = (await admin<ConnectorView>(app, 'GET', '/admin/connectors/slow')).body;
    expect(view.lag.events).toBeGreaterThan(0);
    expect(view).toMatchObject({ source: 'config', state: 'ok' });
    // Its secret came from the configuration, and signs its deliveries.
    await waitFor(() => (slow.requests.length > 0 ? true : undefined), 'a request at the slow receiver');
    expect(WebhookReceiver.signed(slow.requests[0], 'slow-secret-0123456789')).toBe(true);
  });

  it('keeps configured connectors read-only here, but lets operators pause and resume them', async () => {
    const patched = await admin<{ error: string }>(app, 'PATCH', '/admin/connectors/slow', { batch_size: 5 });
    expect(patched).toMatchObject({ status: 409, body: { error: 'connector_configured' } });
    expect((await admin(app, 'DELETE', '/admin/connectors/slow')).status).toBe(409);
    expect((await admin<ConnectorView>(app, 'POST', '/admin/connectors/slow/pause')).body.state).toBe('paused');
    expect((await admin<ConnectorView>(app, 'POST', '/admin/connectors/slow/resume')).body.paused).toBe(false);
  });
});

describe('target addresses', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await bootApp({ ...CONNECTOR_TEST_ENV, CONNECTORS_ALLOW_PRIVATE: 'false' });
  });
  afterAll(() => app.stop());

  it.each([
    'http://127.0.0.1:9/hook',
    'http://localhost/hook',
    'http://10.1.2.3/',
    'http://[::1]/',
    'http://169.254.169.254/',
  ])('refuses %s while CONNECTORS_ALLOW_PRIVATE is off', async (url) => {
    const res = await admin<{ fields: Record<string, string> }>(app, 'POST', '/admin/connectors', {
      name: 'inside',
      url,
    });
    expect(res.status).toBe(400);
    expect(res.body.fields.url).toContain('CONNECTORS_ALLOW_PRIVATE');
  });

  it('refuses other schemes and credentials in the URL', async () => {
    for (const url of ['file:///etc/passwd', 'gopher://example.com/', 'https://user:pw@example.com/']) {
      expect((await admin(app, 'POST', '/admin/connectors', { name: 'odd', url })).status).toBe(400);
    }
  });
});

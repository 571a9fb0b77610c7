/**
 * Data connectors (issue #16) against a real HTTP receiver: what a user
 * notices is what the receiver gets, in which order, signed how, and what
 * the admin API says about it.
 */
import type { ConnectorView } from '../src/connectors/connector-view';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { CONNECTOR_TEST_ENV, admin, publishEvents } from './support/connectors';
import { waitFor } from './support/wait';
import { WebhookReceiver } from './support/webhook-receiver';

describe('data connectors', () => {
  let app: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    app = await bootApp(CONNECTOR_TEST_ENV);
    receiver = new WebhookReceiver();
    await receiver.start();
  });
  afterAll(async () => {
    await app.stop();
    await receiver.stop();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.answer = () => ({ status: 200 });
  });
  // A test that failed half-way leaves no connector behind to feed the next one's receiver.
  afterEach(async () => {
    const { body } = await admin<{ connectors: ConnectorView[] }>(app, 'GET', '/admin/connectors');
    for (const c of body.connectors) await admin(app, 'DELETE', `/admin/connectors/${c.name}`);
  });

  const create = async (body: Record<string, unknown>): Promise<ConnectorView & { secret: string }> => {
    const res = await admin<ConnectorView & { secret: string }>(app, 'POST', '/admin/connectors', body);
    expect(res.status).toBe(201);
    return res.body;
  };
  const view = async (name: string): Promise<ConnectorView> =>
    (await admin<ConnectorView>(app, 'GET', `/admin/connectors/${name}`)).body;

  it('delivers events in log order, batched, signed over timestamp and body, and shows the secret once', async () => {
    const created = await create({ name: 'ordered', url: receiver.url, batch_size: 4, event_types: ['data'] });
    expect(created.secret).toMatch(/^whsec_/);
    expect(created).toMatchObject({
      name: 'ordered',
      batch_size: 4,
      event_types: ['data'],
      state: 'ok',
      source: 'admin',
    });
    expect((await view('ordered')) as unknown as Record<string, unknown>).not.toHaveProperty('secret');

    const events = await publishEvents(app, 10);
    await publishEvents(app, 2, { event: 'status' }); // filtered out
    const ids = events.map((e) => e.id);
    await waitFor(() => (receiver.acknowledgedIds().length >= 10 ? true : undefined), 'ten events delivered');
    expect(receiver.acknowledgedIds()).toEqual(ids);
    expect(receiver.requests.every((r) => r.body.events.length <= 4)).toBe(true);
    expect(receiver.requests.length).toBeGreaterThanOrEqual(3);
    for (const request of receiver.requests) {
      expect(WebhookReceiver.signed(request, created.secret)).toBe(true);
      expect(WebhookReceiver.signed(request, 'whsec_someone-else')).toBe(false);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['devicehub-connector']).toBe('ordered');
      expect(request.body.delivery_id).toBe(request.headers['devicehub-delivery']);
    }
    // A body changed in transit no longer verifies.
    const tampered = { ...receiver.requests[0], raw: receiver.requests[0].raw.replace('"n":0', '"n":9') };
    expect(WebhookReceiver.signed(tampered, created.secret)).toBe(false);
    expect(receiver.requests[0].body.events[0]).toMatchObject({
      id: ids[0],
      event: 'data',
      device_id: 'm-1',
      data: { n: 0 },
    });

    const figures = await waitFor(async () => {
      const v = await view('ordered');
      return v.events_delivered === 10 && v.lag.events === 0 ? v : undefined;
    }, 'the figures');
    expect(figures).toMatchObject({ state: 'ok', last_status: 200, last_error: null, failures: 0 });
    expect(figures.deliveries).toBe(receiver.requests.length);
    expect(Number(figures.cursor)).toBeGreaterThanOrEqual(Number(ids[9]));
    expect(figures.delivered_by).toEqual(expect.any(String));
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/devicehub_connector_events_delivered_total\{connector="ordered"\} 10/);
    expect(metrics).toMatch(/devicehub_connector_lag_events\{connector="ordered"\} 0/);
    await admin(app, 'DELETE', '/admin/connectors/ordered');
  });

  it('retries the same batch after 500s and timeouts, in order, then moves on; failing shows in /health', async () => {
    await create({ name: 'flaky', url: receiver.url, batch_size: 2, timeout_ms: 150 });
    let n = 0;
    receiver.answer = () => {
      n++;
      if (n <= 3) return { status: 500, body: 'database is down' };
      if (n === 4) return { status: 200, delayMs: 400 }; // past timeout_ms: a timeout
      if (n <= 8) return { status: 503 }; // long enough to be failing (300 ms)
      return { status: 200 };
    };
    const ids = (await publishEvents(app, 5)).map((e) => e.id);
    const failing = await waitFor(async () => {
      const v = await view('flaky');
      return v.state === 'failing' ? v : undefined;
    }, 'the connector marked failing');
    expect(failing.last_error).toMatch(/HTTP 50[03]|timed out/);
    expect(failing.failures).toBeGreaterThan(0);
    await waitFor(() => (receiver.acknowledgedIds().length >= 5 ? true : undefined), 'every event after the retries');
    expect(receiver.acknowledgedIds()).toEqual(ids);
    // Retries repeat the failed batch: the first request's events come again, before anything later.
    const firstBatch = receiver.requests[0].body.events.map((e) => e.id);
    expect(receiver.requests[1].body.events.map((e) => e.id)).toEqual(firstBatch);
    expect(receiver.requests[1].body.delivery_id).toBe(receiver.requests[0].body.delivery_id);
    expect(receiver.receivedIds().filter((id, i, all) => all.indexOf(id) !== i).length).toBeGreaterThan(0);
    const after = await waitFor(async () => {
      const v = await view('flaky');
      return v.state === 'ok' && v.lag.events === 0 ? v : undefined;
    }, 'the connector healthy again');
    expect(after.failures).toBeGreaterThanOrEqual(8);
    await admin(app, 'DELETE', '/admin/connectors/flaky');
  });

  it('reports a failing connector in /health as degraded', async () => {
    receiver.answer = () => ({ status: 500 });
    await create({ name: 'broken', url: receiver.url });
    await publishEvents(app, 1);
    const health = await waitFor(async () => {
      const body = (await (await fetch(`${app.url}/health`)).json()) as {
        status: string;
        connectors?: { failing: string[] };
      };
      return body.connectors?.failing.includes('broken') ? body : undefined;
    }, 'the failing connector in /health');
    expect(health.status).toBe('degraded');
    await admin(app, 'DELETE', '/admin/connectors/broken');
  });

  it('holds events while paused and delivers them on resume; replays from an id and from a time', async () => {
    await create({ name: 'held', url: receiver.url, paused: true });
    const ids = (await publishEvents(app, 3)).map((e) => e.id);
    const paused = await waitFor(async () => {
      const v = await view('held');
      return v.lag.events >= 3 ? v : undefined;
    }, 'the lag of the paused connector');
    expect(paused.state).toBe('paused');
    expect(receiver.requests).toHaveLength(0);
    expect((await admin<ConnectorView>(app, 'POST', '/admin/connectors/held/resume')).body.paused).toBe(false);
    await waitFor(() => (receiver.acknowledgedIds().length === 3 ? true : undefined), 'the held events');
    expect(receiver.acknowledgedIds()).toEqual(ids);

    receiver.requests.length = 0;
    expect((await admin(app, 'POST', '/admin/connectors/held/replay', { from_id: ids[1] })).status).toBe(200);
    await waitFor(() => (receiver.acknowledgedIds().length === 2 ? true : undefined), 'the replayed events');
    expect(receiver.acknowledgedIds()).toEqual(ids.slice(1));

    receiver.requests.length = 0;
    const since = new Date(Date.now() - 60_000).toISOString();
    expect((await admin(app, 'POST', '/admin/connectors/held/replay', { from_time: since })).status).toBe(200);
    await waitFor(() => (receiver.acknowledgedIds().includes(ids[2]) ? true : undefined), 'the events since a time');
    expect(receiver.acknowledgedIds()).toEqual(expect.arrayContaining(ids));
    expect((await admin(app, 'POST', '/admin/connectors/held/replay', {})).status).toBe(400);
    await admin(app, 'DELETE', '/admin/connectors/held');
  });

  it('filters by device and channel pattern, sends a signed test, and edits, refusing bad input', async () => {
    const created = await create({
      name: 'narrow',
      url: receiver.url,
      channels: [`${app.storage.topicPrefix}/meter/*/data`, `${app.storage.topicPrefix}/pump/**`],
      headers: { Authorization: 'Bearer receiver-token' },
    });
    expect(created.headers).toEqual(['Authorization']);
    await publishEvents(app, 1, { deviceType: 'meter', deviceId: 'a' });
    await publishEvents(app, 1, { deviceType: 'meter', deviceId: 'b', event: 'status' });
    await publishEvents(app, 1, { deviceType: 'pump', deviceId: 'p', event: 'alarm' });
    await publishEvents(app, 1, { deviceType: 'valve', deviceId: 'v' });
    await waitFor(() => (receiver.acknowledgedIds().length === 2 ? true : undefined), 'the matching events');
    expect(receiver.requests.flatMap((r) => r.body.events.map((e) => `${e.device_type}/${e.event}`))).toEqual([
      'meter/data',
      'pump/alarm',
    ]);
    expect(receiver.requests[0].headers.authorization).toBe('Bearer receiver-token');

    receiver.requests.length = 0;
    const tested = await admin<Record<string, unknown>>(app, 'POST', '/admin/connectors/narrow/test');
    expect(tested.body).toMatchObject({ ok: true, status: 200, error: null });
    expect(receiver.requests[0].body).toMatchObject({ connector: 'narrow', test: true, events: [] });
    expect(WebhookReceiver.signed(receiver.requests[0], created.secret)).toBe(true);

    const patched = await admin<ConnectorView>(app, 'PATCH', '/admin/connectors/narrow', {
      channels: null,
      device_id: 'z',
      batch_size: 7,
    });
    expect(patched.body).toMatchObject({ device_id: 'z', batch_size: 7 });
    expect(patched.body).not.toHaveProperty('channels');

    const bad = await admin<{ fields: Record<string, string> }>(app, 'POST', '/admin/connectors', {
      name: 'a/b',
      url: 'ftp://x',
      batch_size: 0,
      headers: { 'DeviceHub-Signature': 'forged' },
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields).sort()).toEqual(['batch_size', 'headers', 'name']);
    expect((await admin(app, 'POST', '/admin/connectors', { name: 'x', url: 'ftp://x' })).status).toBe(400);
    expect((await admin(app, 'POST', '/admin/connectors', { name: 'narrow', url: receiver.url })).status).toBe(409);
    expect((await admin(app, 'GET', '/admin/connectors/nope')).status).toBe(404);
    const list = await admin<{ connectors: ConnectorView[] }>(app, 'GET', '/admin/connectors');
    expect(list.body.connectors.map((c) => c.name)).toEqual(['narrow']);
    expect((await admin(app, 'DELETE', '/admin/connectors/narrow')).status).toBe(204);
    expect((await admin(app, 'DELETE', '/admin/connectors/narrow')).status).toBe(404);
  });
});

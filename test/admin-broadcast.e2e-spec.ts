import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { listenWs } from './support/web-clients';

describe('POST /admin/broadcast', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await bootApp();
  });
  afterAll(() => app.stop());

  const post = (body: unknown, token?: string): Promise<Response> =>
    fetch(`${app.url}/admin/broadcast`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  it('refuses a request without the admin token with 401 and a JSON error', async () => {
    const res = await post({ device_type: 'ws', device_id: 'a', event_type: 'alert', data: {} });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'invalid_admin_token', message: expect.stringContaining('Bearer') });
    const wrong = await post({ device_type: 'ws', device_id: 'a', event_type: 'alert', data: {} }, 'not-the-token');
    expect(wrong.status).toBe(401);
  });

  it('refuses a client token: admin needs the admin credential', async () => {
    const res = await post({ device_type: 'ws', device_id: 'a', event_type: 'alert', data: {} }, app.clientToken);
    expect(res.status).toBe(401);
  });

  it('answers 400 naming each invalid field', async () => {
    const res = await post({ device_type: 'a/b', event_type: 'has space', data: [1] }, app.adminToken);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; fields: Record<string, string> };
    expect(body.error).toBe('invalid_request');
    expect(Object.keys(body.fields).sort()).toEqual(['data', 'device_id', 'device_type', 'event_type']);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await fetch(`${app.url}/admin/broadcast`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${app.adminToken}` },
      body: '{not json',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBeDefined();
  });

  it('publishes the event like an ingested one: logged, with an id, delivered live', async () => {
    // As a web client sees it: live on a WebSocket opened before, and from the log on a poll after.
    const live = await listenWs(app, 'weatherstation', 'ws-001', ['alert']);
    try {
      const res = await post(
        { device_type: 'weatherstation', device_id: 'ws-001', event_type: 'alert', data: { level: 'high' } },
        app.adminToken,
      );
      expect(res.status).toBe(200);
      const event = (await res.json()) as Record<string, unknown>;
      expect(event).toMatchObject({
        event: 'alert',
        device_type: 'weatherstation',
        device_id: 'ws-001',
        data: { level: 'high' },
      });
      expect(event.id).toMatch(/^\d+$/);
      expect(Date.parse(event.timestamp as string)).not.toBeNaN();
      expect(await live.waitForEvents(1)).toEqual([event]);
      const polled = await fetch(
        `${app.url}/iot/poll/weatherstation/ws-001/?event_types=alert&cursor=${Number(event.id) - 1}`,
        { headers: { Authorization: `Bearer ${app.clientToken}` } },
      );
      expect(((await polled.json()) as { events: unknown[] }).events).toEqual([event]);
    } finally {
      live.close();
    }
  });
});

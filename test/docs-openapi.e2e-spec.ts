import type mqtt from 'mqtt';
import type { OpenApiDocument } from '../src/docs/openapi.types';
import { METHODS } from '../src/docs/openapi.types';
import type { Storage, TestApp } from './support/app';
import { freePort } from './cluster/cluster-harness';
import { bootApp, declareTypes, freshStorage } from './support/app';
import { waitFor } from './support/wait';
import { clientToken, connectDevice } from './support/web-clients';
import { buildDashboard } from './dashboard-build';
import { operationFor, schemaProblems } from './docs-validator';

/** Every route the running app serves, as `get /api/devices/{type}/{id}` (Express 5 keeps them in `router.stack`). */
function servedRoutes(app: TestApp): string[] {
  const express = app.app.getHttpAdapter().getInstance() as {
    router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  };
  const routes = new Set<string>();
  for (const layer of express.router.stack) {
    if (!layer.route) continue;
    const template = layer.route.path.replace(/:(\w+)/g, '{$1}').replace(/\/$/, '') || '/';
    for (const method of Object.keys(layer.route.methods)) routes.add(`${method} ${template}`);
  }
  return [...routes].sort();
}

function documentedRoutes(doc: OpenApiDocument): string[] {
  const routes: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) if (item[method]) routes.push(`${method} ${path.replace(/(.)\/$/, '$1')}`);
  }
  return routes.sort();
}

/**
 * The OpenAPI document at `/docs` (issue #6): it names every route the app
 * serves, and every answer the service gives matches the schema the
 * document promises for that status and content type.
 */
describe('API docs', () => {
  let storage: Storage;
  let app: TestApp;
  let doc: OpenApiDocument;
  let device: mqtt.MqttClient;
  let prefix: string;
  /** `method template` of every documented operation called with an answer that matched its schema. */
  const checked = new Set<string>();

  /** Calls the service as a client would and checks the answer against the document; returns it. */
  async function call(
    method: string,
    path: string,
    options: { token?: string; body?: unknown; accept?: string } = {},
  ): Promise<{ status: number; body: unknown; text: string; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.accept) headers.Accept = options.accept;
    const controller = new AbortController();
    const res = await fetch(`${app.url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: controller.signal,
    });
    const found = operationFor(doc, method, path);
    if (!found) throw new Error(`${method} ${path} is not in the document`);
    const response = found.operation.responses[String(res.status)];
    if (!response) throw new Error(`${method} ${path} answered ${res.status}, which the document does not list`);
    const type = (res.headers.get('content-type') ?? '').split(';')[0];
    const isStream = type === 'text/event-stream' || type === 'application/x-ndjson';
    // A stream does not end: its head and first frame are what there is to check.
    const text = isStream ? await firstChunk(res) : await res.text();
    controller.abort();
    const content = response.content;
    if (content !== undefined) {
      const media = content[type];
      if (!media)
        throw new Error(
          `${method} ${path} ${res.status} answered ${type}; documented: ${Object.keys(content).join(', ')}`,
        );
      if (type === 'application/json') {
        expect({ [`${method} ${path} ${res.status}`]: schemaProblems(doc, media.schema, JSON.parse(text)) }).toEqual({
          [`${method} ${path} ${res.status}`]: [],
        });
      } else if (type === 'application/x-ndjson') {
        const line = JSON.parse(text.split('\n')[0]) as unknown;
        expect(schemaProblems(doc, media.schema, line)).toEqual([]);
      }
    }
    checked.add(`${method.toLowerCase()} ${found.template}`);
    return {
      status: res.status,
      body: type === 'application/json' ? JSON.parse(text) : undefined,
      text,
      headers: res.headers,
    };
  }

  beforeAll(async () => {
    await buildDashboard();
    storage = await freshStorage();
    const types = declareTypes(storage, {
      types: {
        weatherstation: {
          heartbeat_interval: 60,
          readings: { temperature: { type: 'number', unit: '°C', range: [-40, 85] } },
          commands: { set_interval: { payload: { interval: { type: 'integer', range: [1, 3600] } } }, reboot: {} },
        },
      },
    });
    // A port of its own: the bridge's MQTT client id is derived from PORT, and apps on port 0 would share one session at an external broker.
    app = await bootApp({ DEVICE_TYPES: types, PORT: String(await freePort()) }, storage);
    prefix = app.config.mqtt.topicPrefix;
    device = await connectDevice(app, 'docs');
    await device.subscribeAsync(`${prefix}/weatherstation/ws-1/cmd`, { qos: 1 });
    device.on('message', (_topic, payload) => {
      const cmd = JSON.parse(payload.toString()) as { request_id: string; command: string };
      if (cmd.command === 'reboot') return; // left unanswered: the 504 case
      void device.publishAsync(
        `${prefix}/weatherstation/ws-1/cmd/response`,
        JSON.stringify({ request_id: cmd.request_id, result: { ok: true } }),
        { qos: 1 },
      );
    });
    const res = await fetch(`${app.url}/docs/openapi.json`);
    doc = (await res.json()) as OpenApiDocument;
  });
  afterAll(async () => {
    await device?.endAsync();
    await app?.stop();
    await storage?.dispose();
  });

  it('lists every route the service serves, and nothing it does not serve', () => {
    expect(documentedRoutes(doc)).toEqual(servedRoutes(app));
  });

  it('gives every operation a unique id, a summary, a success answer and a body schema, and resolves every $ref', () => {
    const problems: string[] = [];
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const route = `${method} ${path}`;
        if (ids.has(op.operationId)) problems.push(`${route}: operationId ${op.operationId} twice`);
        ids.add(op.operationId);
        if (!op.summary) problems.push(`${route}: no summary`);
        if (!Object.keys(op.responses).some((s) => s.startsWith('2'))) problems.push(`${route}: no 2xx response`);
        for (const name of path.match(/\{\w+\}/g) ?? []) {
          const param = name.slice(1, -1);
          if (!op.parameters?.some((p) => p.in === 'path' && p.name === param)) problems.push(`${route}: no ${name}`);
        }
        if ((method === 'post' || method === 'put') && !route.includes('/credentials') && !op.requestBody) {
          problems.push(`${route}: no request body schema`);
        }
      }
    }
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const name of refs.map((r) => r.split('/').pop() as string)) {
      if (!(name in doc.components.schemas)) problems.push(`unknown $ref ${name}`);
    }
    expect(problems).toEqual([]);
  });

  it('serves the document as a page at /docs, one entry per operation', async () => {
    const { text, headers } = await call('GET', '/docs');
    expect(headers.get('content-type')).toMatch(/^text\/html/);
    for (const route of documentedRoutes(doc)) {
      const [method, path] = route.split(' ');
      expect(text).toMatch(new RegExp(`data-method="${method}" data-path="${path.replace(/[{}]/g, '\\$&')}/?"`));
    }
    await call('GET', '/docs/openapi.json');
  });

  it('answers every documented operation with the documented schema', async () => {
    const token = clientToken(app, { permissions: ['subscribe', 'publish'] });
    const admin = app.adminToken;
    await device.publishAsync(`${prefix}/weatherstation/ws-1/data`, JSON.stringify({ temperature: 21.5 }), { qos: 1 });
    await device.publishAsync(
      `${prefix}/weatherstation/ws-1/status`,
      JSON.stringify({ status: 'online', battery_level: 80 }),
      { qos: 1 },
    );
    await device.publishAsync(`${prefix}/weatherstation/ws-1/data`, 'not json', { qos: 1 });
    await waitFor(async () => {
      const r = await fetch(`${app.url}/api/devices/weatherstation/ws-1`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      return r.status === 200 && ((await r.json()) as { battery_level?: number }).battery_level === 80
        ? true
        : undefined;
    }, 'the device in the registry');

    // Devices and readings.
    await call('GET', '/api/devices?limit=10', { token });
    await call('GET', '/api/devices', {}); // 401
    await call('GET', '/api/devices?limit=0', { token }); // 400
    await call('GET', '/api/devices/weatherstation/ws-1', { token });
    await call('GET', '/api/devices/weatherstation/nope', { token }); // 404
    await call('GET', '/api/devices/weatherstation/ws-1/readings', { token });
    await call('GET', '/api/devices/weatherstation/ws-1/readings?interval=1m&agg=max', { token });
    await call('GET', '/api/readings/recent?devices=weatherstation/ws-1+weatherstation/nope&limit=5', { token });
    await call('GET', '/api/readings/recent?devices=ws', { token }); // 400
    await call('GET', '/api/device-types/weatherstation', { token });
    await call('GET', '/api/device-types/undeclared', { token }); // 404
    const commands = '/api/devices/weatherstation/ws-1/commands';
    expect(
      (await call('POST', commands, { token, body: { command: 'set_interval', payload: { interval: 5 }, timeout: 5 } }))
        .status,
    ).toBe(200);
    expect(
      (await call('POST', commands, { token: admin, body: { command: 'set_interval', payload: { interval: 5 } } }))
        .status,
    ).toBe(202);
    expect((await call('POST', commands, { token, body: { command: 'reboot', timeout: 0.2 } })).status).toBe(504);
    expect((await call('POST', commands, { token, body: { command: 'launch' } })).status).toBe(400);
    expect((await call('POST', commands, { token: clientToken(app), body: { command: 'reboot' } })).status).toBe(403);

    // Web delivery.
    const sse = await call('GET', `/iot/stream/_all/?token=${token}`, { accept: 'text/event-stream' });
    expect(sse.text).toMatch(/^event: connected\n/);
    expect(sse.headers.get('cache-control')).toBe('no-cache');
    await call('GET', `/iot/stream/weatherstation/ws-1/?token=${token}`, { accept: 'application/x-ndjson' });
    await call('GET', '/iot/stream/weatherstation/?event_types=bad!', { token }); // 400
    await call('GET', '/iot/poll/weatherstation/?cursor=0', { token });
    await call('GET', '/iot/poll/weatherstation/ws-1/?cursor=0&limit=1', { token });
    await call('GET', '/iot/poll/weatherstation/?limit=5000', { token }); // 400

    // Admin.
    await call('POST', '/admin/broadcast', {
      token: admin,
      body: { device_type: 'weatherstation', device_id: 'ws-1', event_type: 'alert', data: { level: 'high' } },
    });
    await call('POST', '/admin/broadcast', { token: admin, body: { device_type: 'weatherstation' } }); // 400
    await call('POST', '/admin/broadcast', { token, body: {} }); // 401: a client token is not the admin's
    await call('POST', '/admin/devices/weatherstation/ws-2/credentials', { token: admin });
    await call('POST', '/admin/gateways', {
      token: admin,
      body: { name: 'site-a', topics: [`${prefix}/weatherstation/#`] },
    });
    await waitFor(async () => {
      const r = await call('GET', '/admin/rejects?limit=5', { token: admin });
      return (r.body as { rejects: unknown[] }).rejects.length > 0 ? true : undefined;
    }, 'the rejected message');
    await call('GET', '/admin/rejects?reason=nonsense', { token: admin }); // 400

    // Data connectors (a target that does not resolve: `test` answers how it failed).
    const hook = { name: 'docs', url: 'https://hooks.example.invalid/in', timeout_ms: 500, paused: true };
    expect((await call('POST', '/admin/connectors', { token: admin, body: hook })).status).toBe(201);
    expect((await call('POST', '/admin/connectors', { token: admin, body: hook })).status).toBe(409);
    await call('POST', '/admin/connectors', { token: admin, body: { name: 'x', url: 'ftp://x' } }); // 400
    await call('GET', '/admin/connectors', { token: admin });
    await call('GET', '/admin/connectors/docs', { token: admin });
    await call('GET', '/admin/connectors/nope', { token: admin }); // 404
    await call('PATCH', '/admin/connectors/docs', { token: admin, body: { batch_size: 5, event_types: null } });
    await call('POST', '/admin/connectors/docs/resume', { token: admin });
    await call('POST', '/admin/connectors/docs/pause', { token: admin });
    await call('POST', '/admin/connectors/docs/replay', { token: admin, body: { from_id: '1' } });
    await call('POST', '/admin/connectors/docs/replay', { token: admin, body: {} }); // 400
    expect((await call('POST', '/admin/connectors/docs/test', { token: admin })).body).toMatchObject({ ok: false });
    await call('DELETE', '/admin/connectors/docs', { token: admin });

    // Signalling.
    await call('POST', '/v1/tokens', { token: admin, body: { peerId: 'docs', channels: ['things/**'] } });
    await call('POST', '/admin/devices/weatherstation/ws-3/token', { token: admin, body: { expiresInSec: 600 } });
    await call('POST', '/admin/devices/weatherstation/ws-3/token', { token: admin, body: { expiresInSec: 0 } }); // 400
    await call('POST', '/admin/gateways/token', {
      token: admin,
      body: { name: 'site-b', channels: [`${prefix}/weatherstation/**`] },
    });
    await call('POST', '/admin/gateways/token', { token: admin, body: { name: 'site-b' } }); // 400
    await call('GET', '/admin/peers', { token: admin });
    await call('DELETE', '/v1/peers/nobody', { token: admin }); // 404
    await call('PUT', '/admin/rooms/lobby', { token: admin, body: { channels: [`${prefix}/weatherstation/**`] } });
    await call('GET', '/admin/rooms', { token: admin });
    await call('DELETE', '/admin/rooms/lobby', { token: admin });
    await call('DELETE', '/admin/rooms/lobby', { token: admin }); // 404

    // The service's own pages.
    await call('GET', '/health');
    await call('GET', '/api/stats', { token });
    await call('GET', '/api/stats', {}); // 401
    expect((await call('GET', '/metrics')).text).toContain('devicehub_mqtt_messages_total');
    expect((await call('GET', '/')).text).toContain('/dashboard/app.js');
    await call('GET', '/dashboard/app.js');
    await call('GET', '/dashboard/..%2Fsecrets.json'); // 404

    const documented = documentedRoutes(doc).map((r) => r.replace(/ (.+)$/, (_, p: string) => ` ${templateOf(p)}`));
    expect([...checked].sort()).toEqual(documented.sort());
  });

  /** The document's own key for a normalised route (`/iot/poll/{type}` is documented as `/iot/poll/{type}/`). */
  function templateOf(path: string): string {
    return doc.paths[path] ? path : `${path}/`;
  }
});

/** The first chunk of a streaming response body. */
async function firstChunk(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const { value } = await reader.read();
  await reader.cancel().catch(() => undefined);
  return new TextDecoder().decode(value);
}

import type mqtt from 'mqtt';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import type { WireEvent } from './support/web-clients';
import { connectDevice, numbersOf, publishNumbers } from './support/web-clients';
import { waitFor } from './support/wait';

/**
 * Careless query strings (issue #18, item 7): `name[]=` and repeated names
 * are answered 400 naming the parameter, never ignored; and every answer
 * carries `X-Content-Type-Options: nosniff` and no `X-Powered-By`.
 */
describe('query parameter shapes and response headers', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  const get = (path: string): Promise<Response> =>
    fetch(`${app.url}${path}`, { headers: { Authorization: `Bearer ${app.clientToken}` } });
  const pollEvents = async (query: string): Promise<{ events: WireEvent[]; cursor: string }> => {
    const res = await get(`/iot/poll/shape/?${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as { events: WireEvent[]; cursor: string };
  };

  beforeAll(async () => {
    app = await bootApp();
    device = await connectDevice(app, 'shape');
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
  });

  it.each([
    ['/iot/poll/shape/?client_id=careless&cursor[]=1', 'cursor'],
    ['/iot/poll/shape/?client_id=careless&cursor=1&cursor=2', 'cursor'],
    ['/iot/poll/shape/?client_id=careless&limit[]=5', 'limit'],
    ['/iot/poll/shape/?client_id=careless&last_event_id[x]=5', 'last_event_id'],
    ['/iot/stream/shape/?event_types[]=data', 'event_types'],
    ['/api/devices?limit[]=5', 'limit'],
    ['/api/devices?status=online&status=offline', 'status'],
    ['/api/devices/shape/s-1/readings?limit[]=5', 'limit'],
    ['/api/devices/shape/s-1/readings?start=0&start=1', 'start'],
  ])('answers %s with 400 naming %s', async (path, name) => {
    const res = await get(path);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; message: string; fields: Record<string, string> };
    expect(body.error).toBe('invalid_request');
    expect(Object.keys(body.fields)).toEqual([name]);
    expect(body.message).toContain(`${name}: must be given once`);
  });

  it('leaves the stored poll position where it was when the cursor is refused, and serves the next poll', async () => {
    const first = await pollEvents('client_id=careful');
    await publishNumbers(app, device, 'shape', 's-1', [1, 2]);
    // Both in the log (an external broker acknowledges the device before the bridge commits): read with a
    // cursor of its own, which leaves the client's stored position alone.
    await waitFor(
      async () => (numbersOf((await pollEvents(`cursor=${first.cursor}`)).events).length === 2 ? true : undefined),
      'both events in the log',
    );
    const refused = await get('/iot/poll/shape/?client_id=careful&cursor[]=1&wait=5');
    expect(refused.status).toBe(400);
    // Without a cursor: everything since this client's last good poll, the two events included.
    const next = await pollEvents('client_id=careful&wait=5');
    expect(numbersOf(next.events)).toEqual([1, 2]);
    expect(Number(next.cursor)).toBeGreaterThan(Number(first.cursor));
    // A plain cursor still pages as before.
    expect(numbersOf((await pollEvents(`cursor=${first.cursor}&limit=1`)).events)).toEqual([1]);
  });

  it('sends nosniff and no X-Powered-By on every answer: data, errors, unknown paths, docs', async () => {
    for (const path of ['/health', '/api/devices', '/api/devices?limit[]=1', '/no-such-path', '/docs']) {
      const res = await get(path);
      await res.arrayBuffer();
      expect({
        path,
        nosniff: res.headers.get('x-content-type-options'),
        poweredBy: res.headers.get('x-powered-by'),
      }).toEqual({ path, nosniff: 'nosniff', poweredBy: null });
    }
  });
});

import type mqtt from 'mqtt';
import { EventSource } from 'eventsource';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { openSse } from './support/sse-client';
import { waitFor } from './support/wait';
import type { WireEvent } from './support/web-clients';
import { clientToken, connectDevice, numbersOf, publishNumbers, numbering } from './support/web-clients';

/**
 * SSE and NDJSON at DeviceHub's paths (issue #3): what EventSource and
 * `fetch` readers see, Last-Event-ID over last_event_id=, and the errors a
 * bad request gets. Filters, claims, resume, expiry and reset: the shared
 * contract, delivery-contract.e2e-spec.ts.
 */
describe('SSE and NDJSON streams', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let token: string;
  const next = numbering();
  const streamUrl = (path: string, query = ''): string =>
    `${app.url}/iot/stream/${path}?token=${token}${query ? `&${query}` : ''}`;

  beforeAll(async () => {
    app = await bootApp({ SSE_KEEPALIVE_INTERVAL: '1' });
    token = clientToken(app);
    device = await connectDevice(app, 'sse');
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
  });

  it('opens with connected and DeviceHub headers, then sends events with id lines and keepalives', async () => {
    const res = await fetch(streamUrl('weatherstation/'), { headers: { Accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const readUntil = (pattern: RegExp): Promise<true> =>
      waitFor(async () => {
        if (pattern.test(text)) return true;
        const { value } = await reader.read();
        text += new TextDecoder().decode(value);
        return pattern.test(text) ? true : undefined;
      }, `${pattern} in the stream`);
    await readUntil(/^event: connected\ndata: \{"group":"iot_weatherstation"\}\nretry: 1000\n\n/);
    const [number] = next(1);
    await publishNumbers(app, device, 'weatherstation', 'ws-001', [number]);
    await readUntil(/id: \d+\nevent: data\ndata: .*\n\n/);
    const block = /id: (\d+)\nevent: data\ndata: (.*)\n\n/.exec(text) as RegExpExecArray;
    const event = JSON.parse(block[2]) as WireEvent;
    expect(event).toMatchObject({ id: block[1], event: 'data', device_type: 'weatherstation', device_id: 'ws-001' });
    expect(event.data).toEqual({ n: number });
    await readUntil(/\n: keepalive\n\n/);
    await reader.cancel();
  });

  it("serves the same stream as NDJSON in Disruptive Technologies' shape, with pings at ping_interval", async () => {
    // DT's client sends a list as repeated parameters and the ping interval as `10s`.
    const res = await fetch(streamUrl('_all/', 'ping_interval=1s&event_types=data&event_types=command'), {
      headers: { Accept: 'application/x-ndjson' },
    });
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const lines: { result: { event: { eventType: string } & Record<string, unknown> } }[] = [];
    let buffer = '';
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += new TextDecoder().decode(value);
        let end: number;
        while ((end = buffer.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buffer.slice(0, end)) as (typeof lines)[number]);
          buffer = buffer.slice(end + 1);
        }
      }
    })().catch(() => undefined);
    await waitFor(() => (lines.length > 0 ? true : undefined), 'the first line');
    expect(lines[0]).toEqual({ result: { event: { eventType: 'connected', group: 'iot__all' } } });
    const [number] = next(1);
    await publishNumbers(app, device, 'pump', 'p-1', [number]);
    await device.publishAsync(`${app.config.mqtt.topicPrefix}/pump/p-1/status`, '{"status":"online"}', { qos: 1 });
    const data = await waitFor(() => lines.find((l) => l.result.event.eventType === 'data'), 'a data line');
    expect(data.result.event).toMatchObject({
      eventType: 'data',
      event: 'data',
      device_type: 'pump',
      device_id: 'p-1',
      data: { n: number },
    });
    expect(typeof data.result.event.id).toBe('string');
    const ping = await waitFor(() => lines.find((l) => l.result.event.eventType === 'ping'), 'a ping line', 3000);
    expect(ping).toEqual({ result: { event: { eventType: 'ping' } } });
    // event_types=data: the status event published after the data event never arrives.
    expect(lines.map((l) => l.result.event.eventType).filter((t) => t !== 'ping')).toEqual(['connected', 'data']);
    await reader.cancel();
    await pump;
  });

  it('resumes from Last-Event-ID (header over last_event_id=) with no gap and no duplicate', async () => {
    const first = await openSse(streamUrl('resume/'));
    const numbers = next(6);
    await publishNumbers(app, device, 'resume', 'r-1', numbers.slice(0, 3));
    await waitFor(() => (first.events().length >= 3 ? true : undefined), 'three events');
    first.close();
    const seen = first.events();
    await publishNumbers(app, device, 'resume', 'r-1', numbers.slice(3));
    // The URL still says the first id; EventSource's own reconnect sends the newer one as a header.
    const resumed = await openSse(streamUrl('resume/', `last_event_id=${seen[0].id}`), { 'Last-Event-ID': seen[2].id });
    await waitFor(() => (resumed.events().length >= 3 ? true : undefined), 'the three later events');
    expect(numbersOf(resumed.events())).toEqual(numbers.slice(3));
    const byQuery = await openSse(streamUrl('resume/', `last_event_id=${seen[1].id}`));
    await waitFor(() => (byQuery.events().length >= 4 ? true : undefined), 'events after the query id');
    expect(numbersOf(byQuery.events())).toEqual(numbers.slice(2));
    resumed.close();
    byQuery.close();
  });

  it('works with the eventsource package: named events, lastEventId, and a new EventSource resuming with last_event_id=', async () => {
    const source = new EventSource(streamUrl('es/'));
    const received: { id: string; n: number }[] = [];
    source.addEventListener('data', (e) =>
      received.push({ id: e.lastEventId, n: (JSON.parse(e.data) as WireEvent).data.n as number }),
    );
    await new Promise<void>((resolve) => source.addEventListener('connected', () => resolve()));
    const numbers = next(4);
    await publishNumbers(app, device, 'es', 'e-1', numbers.slice(0, 2));
    await waitFor(() => (received.length >= 2 ? true : undefined), 'two events');
    expect(received.map((r) => r.n)).toEqual(numbers.slice(0, 2));
    source.close();
    const again = new EventSource(streamUrl('es/', `last_event_id=${received[1].id}`));
    const later: number[] = [];
    again.addEventListener('data', (e) => later.push((JSON.parse(e.data) as WireEvent).data.n as number));
    await publishNumbers(app, device, 'es', 'e-1', numbers.slice(2));
    await waitFor(() => (later.length >= 2 ? true : undefined), 'the later events');
    expect(later).toEqual(numbers.slice(2));
    again.close();
  });

  it('refuses a missing or invalid token with 401 and bad parameters with 400 naming each', async () => {
    const missing = await fetch(`${app.url}/iot/stream/_all/`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: 'missing_token' });
    const invalid = await fetch(`${app.url}/iot/stream/_all/?token=not-a-jwt`);
    expect(invalid.status).toBe(401);
    expect(await invalid.json()).toMatchObject({ error: 'invalid_token' });
    const bad = await fetch(streamUrl('_all/', 'event_types=da ta&last_event_id=abc&ping_interval=0'));
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: string; fields: Record<string, string> };
    expect(body.error).toBe('invalid_request');
    expect(Object.keys(body.fields).sort()).toEqual(['event_types', 'last_event_id', 'ping_interval']);
    // The service goes on serving everyone else.
    const stream = await openSse(streamUrl('after-errors/'));
    const [number] = next(1);
    await publishNumbers(app, device, 'after-errors', 'a-1', [number]);
    await waitFor(() => (stream.events().length >= 1 ? true : undefined), 'an event after the refusals');
    stream.close();
  });
});

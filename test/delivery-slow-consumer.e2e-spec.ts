import net from 'node:net';
import type mqtt from 'mqtt';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { openSse } from './support/sse-client';
import { waitFor } from './support/wait';
import { clientToken, connectDevice, numbersOf, openWs, range, wsUrl } from './support/web-clients';

/** Large enough that a few hundred events overflow the kernel's socket buffers too. */
const PAD = 'x'.repeat(8000);
const COUNT = 1500;
const LIMIT = 64 * 1024;

/** An SSE client on a bare TCP socket that reads nothing until told to. */
function stalledSse(app: TestApp, path: string): { resume(): void; text(): string; ended: Promise<void> } {
  const { port } = new URL(app.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  // Read the response head and the connected frame, then stop reading.
  socket.once('data', () => socket.pause());
  return { resume: () => socket.resume(), text: () => text, ended };
}

/**
 * Slow consumers (issue #3): a client that stops reading is disconnected
 * once it leaves SEND_BUFFER_LIMIT unread, with a documented code, while
 * everyone else keeps receiving; it then resumes from its last id and
 * loses nothing.
 */
describe('slow consumers', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let token: string;

  beforeAll(async () => {
    app = await bootApp({ SEND_BUFFER_LIMIT: String(LIMIT) });
    token = clientToken(app);
    device = await connectDevice(app, 'slow');
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
  });

  it('drops a stalled WebSocket and a stalled SSE client, keeps the others going, and both resume without loss', async () => {
    const healthyWs = await openWs(wsUrl(app, `/ws/iot/flood/?token=${token}`));
    const healthySse = await openSse(`${app.url}/iot/stream/flood/?token=${token}`);
    const stalledWs = await openWs(wsUrl(app, `/ws/iot/flood/?token=${token}`));
    stalledWs.ws.pause();
    const sse = stalledSse(app, `/iot/stream/flood/?token=${token}`);
    await waitFor(
      () => (sse.text().includes('event: connected') ? true : undefined),
      'the stalled SSE client to connect',
    );

    const numbers = range(1, COUNT);
    const topic = `${app.config.mqtt.topicPrefix}/flood/f-1/data`;
    for (let i = 0; i < numbers.length; i += 100) {
      await Promise.all(
        numbers.slice(i, i + 100).map((n) => device.publishAsync(topic, JSON.stringify({ n, pad: PAD }), { qos: 1 })),
      );
    }

    // The healthy clients get everything while the stalled ones are held.
    await healthyWs.waitForEvents(COUNT, 30_000);
    await waitFor(() => (healthySse.events().length >= COUNT ? true : undefined), 'every event on healthy SSE', 30_000);
    expect(numbersOf(healthyWs.events())).toEqual(numbers);
    expect(numbersOf(healthySse.events())).toEqual(numbers);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/devicehub_slow_consumer_disconnects_total\{transport="ws"\} 1/);
    expect(metrics).toMatch(/devicehub_slow_consumer_disconnects_total\{transport="sse"\} 1/);

    // The stalled WebSocket reads what was queued before the bound, then the close code.
    stalledWs.ws.resume();
    expect(await stalledWs.closed).toEqual({ code: 4008, reason: 'slow consumer: resume with last_event_id' });
    const got = stalledWs.events();
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(COUNT);
    expect(numbersOf(got)).toEqual(numbers.slice(0, got.length));
    const rest = await openWs(wsUrl(app, `/ws/iot/flood/?token=${token}&last_event_id=${got[got.length - 1].id}`));
    await rest.waitForEvents(COUNT - got.length, 20_000);
    expect(numbersOf(rest.events())).toEqual(numbers.slice(got.length));
    rest.close();

    // The stalled SSE client gets a last `slow_consumer` event naming where to resume.
    sse.resume();
    await sse.ended;
    const final = /event: slow_consumer\ndata: (.*)\n\n/.exec(sse.text());
    expect(final).not.toBeNull();
    const lastId = (JSON.parse((final as RegExpExecArray)[1]) as { last_event_id: string }).last_event_id;
    const sseGot = [...sse.text().matchAll(/id: (\d+)\nevent: data\n/g)].map((m) => m[1]);
    expect(sseGot[sseGot.length - 1]).toBe(lastId);
    const sseRest = await openSse(`${app.url}/iot/stream/flood/?token=${token}`, { 'Last-Event-ID': lastId });
    await waitFor(() => (sseRest.events().length >= COUNT - sseGot.length ? true : undefined), 'the SSE rest', 20_000);
    expect(numbersOf(sseRest.events())).toEqual(numbers.slice(sseGot.length));
    sseRest.close();
    healthyWs.close();
    healthySse.close();
  });

  it('lets a client that reads slowly catch up on a long backlog at its own pace, without cutting it off', async () => {
    // Everything the first test published (COUNT events of 8 KB, far beyond the 64 KiB bound).
    const slow = await openWs(wsUrl(app, `/ws/iot/flood/?token=${token}&last_event_id=0`));
    slow.ws.on('message', () => {
      slow.ws.pause();
      setTimeout(() => slow.ws.resume(), 5);
    });
    await slow.waitForEvents(COUNT, 60_000);
    expect(numbersOf(slow.events())).toEqual(range(1, COUNT));
    expect(slow.ws.readyState).toBe(slow.ws.OPEN);
    slow.close();
  });
});

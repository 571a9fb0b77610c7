import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import type mqtt from 'mqtt';
import { io } from 'socket.io-client';
import type { TestApp } from './support/app';
import { freePort } from './cluster/cluster-harness';
import { bootApp } from './support/app';
import { openSse } from './support/sse-client';
import { waitFor } from './support/wait';
import { clientToken, connectDevice, openWs, wsUrl } from './support/web-clients';
import { mint, rawClient } from './fixtures/signalling/clients';

/** One sample of the Prometheus text, e.g. `sample(text, 'devicehub_connections', {transport: 'sse'})`; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter(Boolean);
    if (wanted.length === have.length && wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return 0;
}

async function scrape(app: TestApp): Promise<string> {
  const res = await fetch(`${app.url}/metrics`);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** Waits until `/metrics` satisfies `check`, and answers that scrape. */
function metricsWhere(
  app: TestApp,
  check: (text: string) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<string> {
  return waitFor(
    async () => {
      const text = await scrape(app);
      return check(text) ? text : undefined;
    },
    what,
    timeoutMs,
  );
}

/** The metrics of issue #6, moved by what users do: devices publishing, clients subscribing, a broker going away. */
describe('GET /metrics', () => {
  describe('ingestion and delivery', () => {
    let app: TestApp;
    let device: mqtt.MqttClient;
    let prefix: string;
    const LIMIT = 64 * 1024;

    beforeAll(async () => {
      // A port of its own: the bridge's MQTT client id is derived from PORT, and apps on port 0 would share one session at an external broker.
      app = await bootApp({ SEND_BUFFER_LIMIT: String(LIMIT), PORT: String(await freePort()) });
      prefix = app.config.mqtt.topicPrefix;
      device = await connectDevice(app, 'metrics');
    });
    afterAll(async () => {
      await device.endAsync();
      await app.stop();
    });

    it('counts messages by kind, rejects by reason, log batches, connections and deliveries per transport', async () => {
      const token = clientToken(app);
      const sse = await openSse(`${app.url}/iot/stream/meter/?token=${token}`);
      const ws = await openWs(wsUrl(app, `/ws/iot/meter/?token=${token}`));
      const socket = io(`${app.url}/iot`, {
        auth: { token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      const socketEvents: unknown[] = [];
      socket.on('data', (e: unknown) => socketEvents.push(e));
      expect(await socket.timeout(5000).emitWithAck('subscribe', { device_type: 'meter' })).toEqual({ ok: true });
      const peer = await rawClient(app, `token=${mint(app, { peerId: 'metrics-peer' })}`);
      peer.send({ type: 'subscribe', channel: `${prefix}/meter/**`, requestId: 's1' });
      await peer.frames.next((f) => f.type === 'ack' && f.requestId === 's1', 'the subscription');

      const open = await metricsWhere(
        app,
        (t) =>
          ['sse', 'ws', 'socketio', 'signalling'].every(
            (transport) => sample(t, 'devicehub_connections', { transport }) === 1,
          ),
        'one open connection per transport',
      );
      expect(sample(open, 'devicehub_mqtt_messages_total', { kind: 'data' })).toBe(0);
      expect(sample(open, 'devicehub_signalling_peers')).toBe(1);
      expect(sample(open, 'devicehub_signalling_subscriptions')).toBe(1);
      const pollStart = (await (await fetch(`${app.url}/iot/poll/meter/?token=${token}&client_id=metrics`)).json()) as {
        cursor: string;
      };

      const topic = (kind: string): string => `${prefix}/meter/m-1/${kind}`;
      for (let n = 0; n < 3; n++) await device.publishAsync(topic('data'), JSON.stringify({ n }), { qos: 1 });
      await device.publishAsync(topic('status'), JSON.stringify({ status: 'online', battery_level: 50 }), { qos: 1 });
      await device.publishAsync(topic('cmd/response'), JSON.stringify({ request_id: 'nobody-asked', result: 1 }), {
        qos: 1,
      });
      await device.publishAsync(topic('data'), '{"broken', { qos: 1 });
      await device.publishAsync(`${prefix}/meter/data`, '{}', { qos: 1 });
      await ws.waitForEvents(4);
      await waitFor(
        () => (socketEvents.length >= 3 && sse.events().length >= 4 ? true : undefined),
        'the events on SSE and socket.io',
      );
      await peer.frames.next((f) => f.type === 'message' && f.channel === topic('status'), 'the mirrored status');

      const after = await metricsWhere(
        app,
        (t) => sample(t, 'devicehub_events_delivered_total', { transport: 'socketio' }) >= 3,
        'the deliveries counted',
      );
      expect(sample(after, 'devicehub_mqtt_messages_total', { kind: 'data' })).toBe(3);
      expect(sample(after, 'devicehub_mqtt_messages_total', { kind: 'status' })).toBe(1);
      expect(sample(after, 'devicehub_mqtt_messages_total', { kind: 'command_response' })).toBe(1);
      expect(sample(after, 'devicehub_mqtt_rejected_total', { reason: 'not_json' })).toBe(1);
      expect(sample(after, 'devicehub_mqtt_rejected_total', { reason: 'malformed_topic' })).toBe(1);
      expect(sample(after, 'devicehub_events_delivered_total', { transport: 'sse' })).toBe(sse.events().length);
      expect(sample(after, 'devicehub_events_delivered_total', { transport: 'ws' })).toBe(ws.events().length);
      expect(sample(after, 'devicehub_ingest_to_send_seconds_count', { transport: 'sse' })).toBe(sse.events().length);
      expect(
        sample(after, 'devicehub_ingest_to_send_seconds_bucket', { transport: 'ws', le: '+Inf' }),
      ).toBeGreaterThanOrEqual(4);
      expect(sample(after, 'devicehub_event_log_batch_size_sum')).toBeGreaterThanOrEqual(5);
      expect(sample(after, 'devicehub_event_log_batch_size_count')).toBeGreaterThanOrEqual(1);
      expect(sample(after, 'devicehub_event_log_write_seconds_count')).toBe(
        sample(after, 'devicehub_event_log_batch_size_count'),
      );
      expect(sample(after, 'devicehub_signalling_messages_delivered_total')).toBeGreaterThanOrEqual(4);
      expect(sample(after, 'devicehub_mqtt_reconnects_total')).toBe(0);
      const polled = (await (
        await fetch(`${app.url}/iot/poll/meter/?token=${token}&cursor=${pollStart.cursor}`)
      ).json()) as { events: unknown[] };
      expect(polled.events).toHaveLength(5);
      const afterPoll = await metricsWhere(
        app,
        (t) => sample(t, 'devicehub_events_delivered_total', { transport: 'poll' }) >= 5,
        'the polled events counted',
      );
      expect(sample(afterPoll, 'devicehub_events_delivered_total', { transport: 'poll' })).toBe(5);

      sse.close();
      ws.close();
      socket.close();
      peer.ws.close();
      await metricsWhere(
        app,
        (t) =>
          ['sse', 'ws', 'socketio', 'signalling'].every(
            (transport) => sample(t, 'devicehub_connections', { transport }) === 0,
          ),
        'every connection closed',
      );
      await metricsWhere(
        app,
        (t) => sample(t, 'devicehub_signalling_peers') === 0 && sample(t, 'devicehub_signalling_subscriptions') === 0,
        'no signalling peer left',
      );
    });

    it('counts a slow consumer disconnected', async () => {
      const token = clientToken(app);
      const { port } = new URL(app.url);
      // An SSE client that reads the response head, then nothing.
      const stalled = net.connect(Number(port), '127.0.0.1');
      stalled.write(`GET /iot/stream/flood/?token=${token} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
      await new Promise((resolve) => stalled.once('data', resolve));
      stalled.pause();
      const pad = 'x'.repeat(8000);
      for (let n = 0; n < 1500; n += 100) {
        const batch = Array.from({ length: 100 }, (_, i) =>
          device.publishAsync(`${prefix}/flood/f-1/data`, JSON.stringify({ n: n + i, pad }), { qos: 1 }),
        );
        await Promise.all(batch);
      }
      await metricsWhere(
        app,
        (t) => sample(t, 'devicehub_slow_consumer_disconnects_total', { transport: 'sse' }) === 1,
        'the slow consumer counted',
        30_000,
      );
      stalled.destroy();
    }, 60_000);
  });

  describe('an external broker that drops the bridge', () => {
    const broker = new Aedes();
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      broker.handle(socket);
    });
    let app: TestApp;

    beforeAll(async () => {
      await broker.listen();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      app = await bootApp({ MQTT_URL: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}` });
    });
    afterAll(async () => {
      await app.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    });

    it('counts each reconnect', async () => {
      await waitFor(() => (sockets.size > 0 ? true : undefined), 'the bridge connected');
      expect(sample(await scrape(app), 'devicehub_mqtt_reconnects_total')).toBe(0);
      for (const socket of sockets) socket.destroy();
      await metricsWhere(app, (t) => sample(t, 'devicehub_mqtt_reconnects_total') === 1, 'the reconnect counted');
      await waitFor(async () => {
        const health = (await (await fetch(`${app.url}/health`)).json()) as { broker: { connected: boolean } };
        return sockets.size > 0 && health.broker.connected ? true : undefined;
      }, 'the bridge connected again');
    });
  });
});

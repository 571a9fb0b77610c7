import type mqtt from 'mqtt';
import WebSocket from 'ws';
import type { RawClient } from './fixtures/signalling/clients';
import { Inbox, mint, rawClient, within } from './fixtures/signalling/clients';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { waitFor } from './support/wait';
import type { WsClient } from './support/web-clients';
import { connectDevice, numbering, openWs, publishNumbers, wsUrl } from './support/web-clients';

/** 30,000 nested arrays: 60 KB, under MAX_MESSAGE_SIZE, and far past what JSON.stringify can take. */
const NESTED = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
/** An object with one key more than MAX_JSON_KEYS allows by default. */
const WIDE = JSON.stringify(Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i])));

/**
 * One deeply nested or very wide JSON message at each entry point (issue
 * #18, item 1): the sender gets a clear refusal naming the limit, and the
 * service goes on serving everyone, the event log included.
 */
describe('hostile JSON at every entry point', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let watcher: WsClient;
  let prefix: string;
  const next = numbering();

  beforeAll(async () => {
    app = await bootApp();
    prefix = app.config.mqtt.topicPrefix;
    device = await connectDevice(app, 'hostile');
    watcher = await openWs(wsUrl(app, `/ws/iot/meter/?token=${app.clientToken}`));
  });
  afterAll(async () => {
    watcher.close();
    await device.endAsync();
    await app.stop();
  });

  /** A normal MQTT message still reaches a WebSocket subscriber, and /health is ok. */
  async function stillServed(): Promise<void> {
    const [n] = next(1);
    await publishNumbers(app, device, 'meter', 'm-1', [n]);
    await waitFor(() => watcher.events().find((e) => e.data.n === n), `event ${n} on the WebSocket`);
    const health = (await (await fetch(`${app.url}/health`)).json()) as { status: string };
    expect(health.status).toBe('ok');
  }

  const rejects = async (reason: string): Promise<{ rejects: { detail: string }[]; counts: Record<string, number> }> =>
    (await (
      await fetch(`${app.url}/admin/rejects?reason=${reason}`, {
        headers: { Authorization: `Bearer ${app.adminToken}` },
      })
    ).json()) as { rejects: { detail: string }[]; counts: Record<string, number> };

  describe('MQTT', () => {
    it('counts and keeps a nested payload as a too_deep reject', async () => {
      const payload = `{"temperature": ${NESTED}}`;
      expect(payload.length).toBeLessThan(app.config.maxMessageSize);
      await device.publishAsync(`${prefix}/meter/m-1/data`, payload, { qos: 1 });
      const answer = await waitFor(async () => {
        const got = await rejects('too_deep');
        return got.rejects.length > 0 ? got : undefined;
      }, 'the too_deep reject');
      expect(answer.counts.too_deep).toBe(1);
      expect(answer.rejects[0].detail).toBe('JSON nests deeper than 32 levels (MAX_JSON_DEPTH)');
      await stillServed();
    });

    it('counts an object with more than MAX_JSON_KEYS keys as too_many_keys', async () => {
      await device.publishAsync(`${prefix}/meter/m-1/data`, WIDE, { qos: 1 });
      const answer = await waitFor(async () => {
        const got = await rejects('too_many_keys');
        return got.rejects.length > 0 ? got : undefined;
      }, 'the too_many_keys reject');
      expect(answer.rejects[0].detail).toBe('a JSON object has more than 1000 keys (MAX_JSON_KEYS)');
      await stillServed();
    });
  });

  // Issue #18, item 5: these were acknowledged, then dropped with a TypeError, uncounted.
  it('takes readings named constructor, toString, valueOf and __proto__ like any others', async () => {
    const payload = '{"constructor": 1, "toString": 2, "valueOf": 3, "__proto__": 4}';
    const expected = JSON.parse(payload) as Record<string, unknown>;
    await device.publishAsync(`${prefix}/meter/m-names/data`, payload, { qos: 1 });
    const event = await waitFor(
      () => watcher.events().find((e) => e.device_id === 'm-names'),
      'the event on the WebSocket',
    );
    expect(event.data).toEqual(expected);
    expect(Object.keys(event.data)).toEqual(['constructor', 'toString', 'valueOf', '__proto__']);
    const view = (await (
      await fetch(`${app.url}/api/devices/meter/m-names`, { headers: { Authorization: `Bearer ${app.clientToken}` } })
    ).json()) as { latest_readings: Record<string, { value: unknown }> };
    expect(Object.entries(view.latest_readings).map(([name, r]) => [name, r.value])).toEqual(Object.entries(expected));
    expect((await rejects('ingest_failed')).counts.ingest_failed).toBe(0);
    await stillServed();
  });

  describe('HTTP bodies', () => {
    const post = (path: string, body: string): Promise<Response> =>
      fetch(`${app.url}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${app.adminToken}` },
        body,
      });

    it.each([
      ['a command payload', '/api/devices/meter/m-1/commands', `{"command": "reset", "payload": {"x": ${NESTED}}}`],
      [
        'a broadcast',
        '/admin/broadcast',
        `{"device_type": "meter", "device_id": "m-1", "event_type": "alert", "data": {"x": ${NESTED}}}`,
      ],
    ])('answers %s nested too deep with 400 too_deep', async (_what, path, body) => {
      const res = await post(path, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: 'too_deep',
        message: 'JSON nests deeper than 32 levels (MAX_JSON_DEPTH)',
      });
      await stillServed();
    });

    it('answers a body with too many keys in one object with 400 too_many_keys', async () => {
      const res = await post(
        '/admin/broadcast',
        `{"device_type": "meter", "device_id": "m-1", "event_type": "alert", "data": ${WIDE}}`,
      );
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('too_many_keys');
      await stillServed();
    });
  });

  it('answers a nested /ws/iot frame with an error frame and keeps the connection', async () => {
    const client = await openWs(wsUrl(app, `/ws/iot/meter/?token=${app.clientToken}`));
    try {
      client.ws.send(`{"action": "ping", "x": ${NESTED}}`);
      await waitFor(() => client.frames.find((f) => f.event === 'error'), 'the error frame');
      expect(client.frames).toEqual([
        { event: 'error', error: 'too_deep', message: 'JSON nests deeper than 32 levels (MAX_JSON_DEPTH)' },
      ]);
      client.ws.send('{"action": "ping"}');
      await waitFor(() => client.frames.find((f) => f.event === 'pong'), 'pong after the error');
      await stillServed();
    } finally {
      client.close();
    }
  });

  it('answers a nested socket.io subscribe with {error: too_deep} and keeps the socket', async () => {
    // socket.io-client cannot even encode such a payload (its hasBinary recurses): speak the wire protocol.
    const ws = new WebSocket(wsUrl(app, '/socket.io/?EIO=4&transport=websocket'));
    const packets = new Inbox<string>();
    ws.on('message', (data: Buffer) => packets.push(data.toString('utf8')));
    try {
      await packets.next((p) => p.startsWith('0'), 'engine.io open');
      ws.send(`40/iot,${JSON.stringify({ token: app.clientToken })}`);
      await packets.next((p) => p.startsWith('40/iot,'), 'namespace connect');
      ws.send(`42/iot,1["subscribe", {"device_type": "meter", "x": ${NESTED}}]`);
      const refused = await packets.next((p) => p.startsWith('43/iot,1['), 'the ack of the nested subscribe');
      expect(JSON.parse(refused.slice('43/iot,1'.length))).toEqual([
        { error: 'too_deep', message: 'JSON nests deeper than 32 levels (MAX_JSON_DEPTH)' },
      ]);
      ws.send('42/iot,2["subscribe", {"device_type": "meter"}]');
      const accepted = await packets.next((p) => p.startsWith('43/iot,2['), 'the ack of the next subscribe');
      expect(JSON.parse(accepted.slice('43/iot,2'.length))).toEqual([{ ok: true }]);
      await stillServed();
    } finally {
      ws.terminate();
    }
  });

  describe('/v1 signalling', () => {
    let bystander: RawClient;
    let sender: RawClient;

    beforeAll(async () => {
      bystander = await rawClient(app, `token=${mint(app, { peerId: 'bystander' })}`);
      bystander.send({ type: 'subscribe', channel: 'news', requestId: 'sub' });
      await bystander.frames.next((f) => f.type === 'presence', 'bystander roster');
      sender = await rawClient(app, `token=${mint(app, { peerId: 'sender' })}`);
      await sender.frames.next((f) => f.type === 'welcome', 'welcome');
    });
    afterAll(() => {
      bystander.ws.terminate();
      sender.ws.terminate();
    });

    it('answers a nested publish with malformed_message for its request, not ack then internal_error', async () => {
      sender.send(`{"type": "publish", "channel": "news", "requestId": "deep", "data": ${NESTED}}`);
      const error = await sender.frames.next((f) => f.requestId === 'deep', 'the answer to the nested publish');
      expect(error).toEqual({
        type: 'error',
        code: 'malformed_message',
        requestId: 'deep',
        message: 'JSON nests deeper than 32 levels (MAX_JSON_DEPTH)',
      });
      expect(sender.frames.items.filter((f) => f.type === 'ack' || f.code === 'internal_error')).toEqual([]);
      sender.send({ type: 'publish', channel: 'news', data: 'after', requestId: 'after' });
      await sender.frames.next((f) => f.type === 'ack' && f.requestId === 'after', 'ack of the next publish');
      await bystander.frames.next((f) => f.type === 'message' && f.data === 'after', 'the next publish');
      expect(bystander.frames.items.filter((f) => f.type === 'message')).toEqual([
        { type: 'message', channel: 'news', from: 'sender', data: 'after' },
      ]);
      await stillServed();
    });

    it('answers a frame with too many keys with malformed_message', async () => {
      sender.send(`{"type": "send", "to": "bystander", "requestId": "wide", "data": ${WIDE}}`);
      const error = await within(
        sender.frames.next((f) => f.requestId === 'wide', 'the answer to the wide send'),
        'answer',
      );
      expect(error).toMatchObject({
        type: 'error',
        code: 'malformed_message',
        message: expect.stringContaining('MAX_JSON_KEYS'),
      });
      expect(bystander.frames.items.filter((f) => f.type === 'direct')).toEqual([]);
    });
  });
});

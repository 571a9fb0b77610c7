import type mqtt from 'mqtt';
import type { Socket } from 'socket.io-client';
import { io } from 'socket.io-client';
import type { TestApp } from './support/app';
import { MqttTransport } from '../src/mqtt/mqtt-transport';
import { bootApp } from './support/app';
import { openSse } from './support/sse-client';
import { waitFor } from './support/wait';
import type { WireEvent } from './support/web-clients';
import { clientToken, connectDevice, numbersOf, openWs, publishNumbers, numbering, wsUrl } from './support/web-clients';

type Ack = { ok: true } | { error: string; message: string; fields?: Record<string, string> };

/**
 * socket.io, namespace `/iot` (issue #3): handshake auth, subscribe and
 * unsubscribe with acknowledgements, events under their own names, and the
 * shared HTTP port with the other WebSocket servers. Filters, claims,
 * resume, expiry and reset: the shared contract, delivery-contract.e2e-spec.ts.
 */
describe('socket.io /iot', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let token: string;
  const sockets: Socket[] = [];
  const next = numbering();

  /** A connected client collecting every event it gets, whatever its name. */
  const connect = async (
    auth: Record<string, unknown> = { token },
    transports: ('websocket' | 'polling')[] = ['websocket'],
  ): Promise<{ socket: Socket; events: [string, WireEvent][] }> => {
    const socket = io(`${app.url}/iot`, { auth, transports, reconnection: false, forceNew: true });
    sockets.push(socket);
    const events: [string, WireEvent][] = [];
    socket.onAny((name: string, payload: WireEvent) => events.push([name, payload]));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return { socket, events };
  };
  const subscribe = (socket: Socket, payload: unknown, event = 'subscribe'): Promise<Ack> =>
    socket.timeout(5000).emitWithAck(event, payload) as Promise<Ack>;

  beforeAll(async () => {
    app = await bootApp();
    token = clientToken(app);
    device = await connectDevice(app, 'sio');
  });
  afterAll(async () => {
    sockets.forEach((s) => s.disconnect());
    await device.endAsync();
    await app.stop();
  });

  it('refuses a handshake without a valid token with connect_error', async () => {
    await expect(connect({})).rejects.toMatchObject({
      message: expect.stringContaining('token'),
      data: { error: 'missing_token' },
    });
    await expect(connect({ token: 'bad' })).rejects.toMatchObject({ data: { error: 'invalid_token' } });
  });

  it('acknowledges subscribe with {ok: true} and emits events under their own names', async () => {
    const { socket, events } = await connect();
    expect(await subscribe(socket, { device_type: 'weatherstation' })).toEqual({ ok: true });
    const [number] = next(1);
    await publishNumbers(app, device, 'weatherstation', 'ws-001', [number]);
    await device.publishAsync(`${app.config.mqtt.topicPrefix}/weatherstation/ws-001/status`, '{"status":"online"}', {
      qos: 1,
    });
    await waitFor(() => (events.length >= 2 ? true : undefined), 'data and status events');
    expect(events.map(([name]) => name)).toEqual(['data', 'status']);
    expect(events[0][1]).toMatchObject({ event: 'data', device_type: 'weatherstation', data: { n: number } });
    expect(events[1][1].data).toMatchObject({ new_status: 'online' });
  });

  it('answers malformed or invalid subscriptions with {error} and keeps the socket', async () => {
    const { socket, events } = await connect();
    expect(await subscribe(socket, 'weatherstation')).toMatchObject({
      error: 'invalid_request',
      fields: { payload: expect.any(String) },
    });
    expect(await subscribe(socket, { device_type: 'a/b', last_event_id: 'x', event_types: [1] })).toMatchObject({
      error: 'invalid_request',
      fields: { device_type: expect.any(String), last_event_id: expect.any(String), event_types: expect.any(String) },
    });
    expect(await subscribe(socket, { device_type: 'nothing' }, 'unsubscribe')).toMatchObject({
      error: 'not_subscribed',
    });
    expect(await subscribe(socket, { device_type: 'pump', device_id: 'p-9' })).toEqual({ ok: true });
    const [number] = next(1);
    await publishNumbers(app, device, 'pump', 'p-9', [number]);
    await waitFor(() => (events.length >= 1 ? true : undefined), 'an event after the errors');
    expect(socket.connected).toBe(true);
  });

  it('stops sending after unsubscribe', async () => {
    const { socket, events } = await connect();
    await subscribe(socket, { device_type: 'unsub' });
    await subscribe(socket, { device_type: 'unsub2' });
    expect(await subscribe(socket, { device_type: 'unsub' }, 'unsubscribe')).toEqual({ ok: true });
    const numbers = next(2);
    await publishNumbers(app, device, 'unsub', 'u-1', [numbers[0]]);
    await publishNumbers(app, device, 'unsub2', 'u-1', [numbers[1]]);
    await waitFor(() => (events.length >= 1 ? true : undefined), 'the unsub2 event');
    expect(events.map(([, e]) => e.data.n)).toEqual([numbers[1]]);
  });

  it('works over HTTP long-polling too', async () => {
    const { socket, events } = await connect({ token }, ['polling']);
    expect(socket.io.engine.transport.name).toBe('polling');
    await subscribe(socket, { device_type: 'polling' });
    const [number] = next(1);
    await publishNumbers(app, device, 'polling', 'p-1', [number]);
    await waitFor(() => (events.length >= 1 ? true : undefined), 'an event over polling');
    expect(events[0][1].data).toEqual({ n: number });
  });

  it('shares the HTTP port with the raw WebSocket, MQTT over WebSocket, signalling and SSE at once', async () => {
    // MQTT over WebSocket is the embedded broker's; with an external broker the path is refused instead.
    const embeddedBroker = app.app.get(MqttTransport).describe().external === undefined;
    const { socket, events } = await connect({ token }, ['polling', 'websocket']);
    await waitFor(
      () => (socket.io.engine.transport.name === 'websocket' ? true : undefined),
      'the upgrade to websocket',
    );
    await subscribe(socket, { device_type: 'shared' });
    const raw = await openWs(wsUrl(app, `/ws/iot/shared/?token=${token}`));
    const signalling = await openWs(wsUrl(app, `/v1?token=${token}`));
    const mqttWs = embeddedBroker ? await openWs(wsUrl(app, '/mqtt')) : undefined;
    if (!embeddedBroker) await expect(openWs(wsUrl(app, '/mqtt'))).rejects.toThrow(/404/);
    const sse = await openSse(`${app.url}/iot/stream/shared/?token=${token}`);
    const [number] = next(1);
    await publishNumbers(app, device, 'shared', 's-1', [number]);
    await waitFor(() => (events.length >= 1 ? true : undefined), 'socket.io event');
    expect(numbersOf(await raw.waitForEvents(1))).toEqual([number]);
    await waitFor(() => (sse.events().length >= 1 ? true : undefined), 'SSE event');
    expect(signalling.frames[0]).toMatchObject({ type: 'welcome' });
    if (mqttWs) expect(mqttWs.ws.readyState).toBe(mqttWs.ws.OPEN);
    [raw, signalling, mqttWs].forEach((c) => c?.close());
    sse.close();
  });
});

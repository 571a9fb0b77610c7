import type mqtt from 'mqtt';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { waitFor } from './support/wait';
import { clientToken, connectDevice, numbersOf, openWs, publishNumbers, numbering, wsUrl } from './support/web-clients';

/**
 * The raw WebSocket at DeviceHub's paths (issue #3): event shape, ping/pong,
 * 4403 for clients without a valid token, and malformed or oversized client
 * frames. Filters, claims, resume, expiry and reset: the shared contract,
 * delivery-contract.e2e-spec.ts.
 */
describe('raw WebSocket /ws/iot/', () => {
  let app: TestApp;
  let device: mqtt.MqttClient;
  let token: string;
  const next = numbering();
  const url = (path: string, query = ''): string =>
    wsUrl(app, `/ws/iot/${path}?token=${token}${query ? `&${query}` : ''}`);

  beforeAll(async () => {
    app = await bootApp({ MAX_MESSAGE_SIZE: '4096' });
    token = clientToken(app);
    device = await connectDevice(app, 'ws');
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
  });

  it('sends each event as DeviceHub-shaped JSON with its id', async () => {
    const client = await openWs(url('weatherstation/'));
    const [number] = next(1);
    await publishNumbers(app, device, 'weatherstation', 'ws-001', [number]);
    const [event] = await client.waitForEvents(1);
    expect(event).toEqual({
      id: expect.stringMatching(/^\d+$/),
      event: 'data',
      device_type: 'weatherstation',
      device_id: 'ws-001',
      data: { n: number },
      timestamp: expect.any(String),
      received_at: expect.any(String),
    });
    client.close();
  });

  it('answers {"action":"ping"} with {"event":"pong"}', async () => {
    const client = await openWs(url('_all/'));
    client.ws.send(JSON.stringify({ action: 'ping' }));
    await waitFor(() => client.frames.find((f) => f.event === 'pong'), 'pong');
    expect(client.frames).toEqual([{ event: 'pong' }]);
    client.close();
  });

  it('closes connections without a valid token with 4403', async () => {
    const missing = await openWs(wsUrl(app, '/ws/iot/_all/'));
    expect((await missing.closed).code).toBe(4403);
    const invalid = await openWs(wsUrl(app, '/ws/iot/_all/?token=nope'));
    expect(await invalid.closed).toEqual({ code: 4403, reason: 'The token is not valid' });
    const expired = clientToken(app, { expiresInSec: -10 });
    const late = await openWs(wsUrl(app, `/ws/iot/_all/?token=${expired}`));
    expect(await late.closed).toEqual({ code: 4403, reason: 'The token has expired' });
  });

  it('takes the token from an Authorization header or a cookie too', async () => {
    const byHeader = await openWs(wsUrl(app, '/ws/iot/hdr/'), { Authorization: `Bearer ${token}` });
    const byCookie = await openWs(wsUrl(app, '/ws/iot/hdr/'), { Cookie: `theme=dark; token=${token}` });
    const [number] = next(1);
    await publishNumbers(app, device, 'hdr', 'h-1', [number]);
    expect(numbersOf(await byHeader.waitForEvents(1))).toEqual([number]);
    expect(numbersOf(await byCookie.waitForEvents(1))).toEqual([number]);
    byHeader.close();
    byCookie.close();
  });

  it('answers malformed frames with an error frame and keeps the connection', async () => {
    const client = await openWs(url('frames/'));
    client.ws.send('{not json');
    client.ws.send('[1, 2]');
    client.ws.send(JSON.stringify({ action: 'dance' }));
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await waitFor(() => (client.frames.length >= 4 ? true : undefined), 'four error frames');
    expect(client.frames).toEqual([
      { event: 'error', error: 'malformed_frame', message: 'frames must be JSON' },
      { event: 'error', error: 'malformed_frame', message: 'frames must be JSON objects' },
      { event: 'error', error: 'malformed_frame', message: 'unknown action "dance"' },
      { event: 'error', error: 'malformed_frame', message: 'frames must be JSON text' },
    ]);
    const [number] = next(1);
    await publishNumbers(app, device, 'frames', 'f-1', [number]);
    expect(numbersOf(await client.waitForEvents(1))).toEqual([number]);
    client.close();
  });

  it('closes a connection that sends a frame over MAX_MESSAGE_SIZE with 1009; others keep receiving', async () => {
    const bystander = await openWs(url('oversize/'));
    const offender = await openWs(url('oversize/'));
    offender.ws.send(JSON.stringify({ action: 'ping', pad: 'x'.repeat(5000) }));
    expect((await offender.closed).code).toBe(1009);
    const [number] = next(1);
    await publishNumbers(app, device, 'oversize', 'o-1', [number]);
    expect(numbersOf(await bystander.waitForEvents(1))).toEqual([number]);
    bystander.close();
  });

  it('answers bad parameters with an error frame naming each, then 4400', async () => {
    const client = await openWs(url('_all/', 'event_types=a b&last_event_id=x'));
    expect((await client.closed).code).toBe(4400);
    expect(client.frames).toEqual([
      {
        event: 'error',
        error: 'invalid_request',
        message: expect.any(String),
        fields: { event_types: expect.any(String), last_event_id: expect.any(String) },
      },
    ]);
  });

  it('refuses other paths under /ws/ at the upgrade', async () => {
    const client = openWs(wsUrl(app, `/ws/iot/a/b/c/?token=${token}`));
    await expect(client).rejects.toThrow(/404/);
  });
});

import mqtt from 'mqtt';
import { TokenService } from '../src/auth/token.service';
import type { Storage, TestApp } from './support/app';
import { bootApp, declareTypes, freshStorage } from './support/app';
import { waitFor } from './support/wait';
import { listenWs } from './support/web-clients';

function declareThermostat(storage: Storage): string {
  const path = declareTypes(storage, {
    accept_undeclared: true,
    types: {
      thermostat: {
        heartbeat_interval: 60,
        readings: { temperature: { type: 'number', unit: 'C' } },
        commands: {
          set_interval: { payload: { interval: { type: 'integer', range: [1, 3600], required: true } } },
          reboot: { payload: {} },
        },
      },
    },
  });
  return path;
}

/** A command answer or error body; each test reads the fields it asserts. */
interface Answer {
  request_id: string;
  error?: string;
  fields?: Record<string, string>;
}

interface Command {
  command: string;
  payload: Record<string, unknown>;
  request_id: string;
}

describe('POST /api/devices/{type}/{id}/commands', () => {
  let storage: Storage;
  let app: TestApp;
  let prefix: string;
  let device: mqtt.MqttClient;
  let publisherToken: string;
  /** What the device received on its cmd topic, in order. */
  const received: { command: Command; qos: number }[] = [];
  /** How the device answers: a response body, or nothing. */
  let answer: (c: Command) => Record<string, unknown> | undefined = () => undefined;

  beforeAll(async () => {
    storage = await freshStorage();
    app = await bootApp({ DEVICE_TYPES: declareThermostat(storage) }, storage);
    prefix = app.config.mqtt.topicPrefix;
    publisherToken = app.app
      .get(TokenService)
      .mint({ peerId: 'operator', channels: [`${prefix}/thermostat/**`], permissions: ['subscribe', 'publish'] }).token;
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `thermostat-${process.pid}` });
    await device.subscribeAsync(`${prefix}/thermostat/t-1/cmd`, { qos: 1 });
    device.on('message', (_topic, payload, packet) => {
      const command = JSON.parse(payload.toString()) as Command;
      received.push({ command, qos: packet.qos });
      const response = answer(command);
      if (response)
        void device.publishAsync(`${prefix}/thermostat/t-1/cmd/response`, JSON.stringify(response), { qos: 1 });
    });
    await device.publishAsync(`${prefix}/thermostat/t-1/status`, JSON.stringify({ status: 'online' }), { qos: 1 });
    await waitFor(
      async () =>
        (
          await fetch(`${app.url}/api/devices/thermostat/t-1`, {
            headers: { Authorization: `Bearer ${app.clientToken}` },
          })
        ).status === 200
          ? true
          : undefined,
      't-1 registered',
    );
  });
  beforeEach(() => {
    received.length = 0;
    answer = () => undefined;
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
    await storage.dispose();
  });

  const post = (path: string, body: unknown, token: string | null = app.adminToken): Promise<Response> =>
    fetch(`${app.url}/api/devices/${path}/commands`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  it('waits for the device answer and returns it: 200 {request_id, result}', async () => {
    answer = (c) => ({ request_id: c.request_id, result: { interval: c.payload.interval } });
    const events = await listenWs(app, 'thermostat', 't-1', ['command', 'command_response']);
    const res = await post('thermostat/t-1', { command: 'set_interval', payload: { interval: 60 }, timeout: 5 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Answer;
    expect(body).toEqual({ request_id: expect.any(String), result: { interval: 60 } });
    expect(received).toEqual([
      { command: { command: 'set_interval', payload: { interval: 60 }, request_id: body.request_id }, qos: 1 },
    ]);
    // Command and response are events, the command first.
    const seen = (await events.waitForEvents(2)).slice(0, 2);
    events.close();
    expect(seen.map((e) => [e.event, e.data])).toEqual([
      [
        'command',
        { request_id: body.request_id, command: 'set_interval', payload: { interval: 60 }, source: 'rest', timeout: 5 },
      ],
      ['command_response', { request_id: body.request_id, result: { interval: 60 } }],
    ]);
  });

  it("passes the device's error answer on as it sent it", async () => {
    answer = (c) => ({ request_id: c.request_id, error: 'busy' });
    const res = await post('thermostat/t-1', { command: 'reboot', timeout: 5 }, publisherToken);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ request_id: expect.any(String), error: 'busy' });
  });

  it('answers 202 sent at once without a timeout; the device still gets the command', async () => {
    const res = await post('thermostat/t-1', { command: 'reboot' }, publisherToken);
    expect(res.status).toBe(202);
    const body = (await res.json()) as Answer;
    expect(body).toEqual({ request_id: expect.any(String), status: 'sent' });
    const got = await waitFor(() => (received.length > 0 ? received[0] : undefined), 'the command at the device');
    expect(got.command).toEqual({ command: 'reboot', payload: {}, request_id: body.request_id });
  });

  it('answers 504 command_timeout when the device stays silent', async () => {
    const started = Date.now();
    const res = await post('thermostat/t-1', { command: 'reboot', timeout: 0.5 });
    expect(res.status).toBe(504);
    const body = (await res.json()) as Answer;
    expect(body).toMatchObject({ error: 'command_timeout', request_id: expect.any(String) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(received.map((r) => r.command.request_id)).toEqual([body.request_id]);
  });

  it('refuses a command the device type does not declare or a bad payload with 400, and sends nothing', async () => {
    const unknown = await post('thermostat/t-1', { command: 'self_destruct', payload: {} });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      error: 'invalid_command',
      message: expect.stringContaining('self_destruct'),
    });
    const badPayload = await post('thermostat/t-1', { command: 'set_interval', payload: { interval: 'soon' } });
    expect(badPayload.status).toBe(400);
    expect(await badPayload.json()).toMatchObject({
      error: 'invalid_command',
      message: expect.stringContaining('interval'),
    });
    const outOfRange = await post('thermostat/t-1', { command: 'set_interval', payload: { interval: 99999 } });
    expect(outOfRange.status).toBe(400);
    // The next valid command goes through.
    answer = (c) => ({ request_id: c.request_id, result: 'ok' });
    expect((await post('thermostat/t-1', { command: 'reboot', timeout: 5 })).status).toBe(200);
    expect(received.map((r) => r.command.command)).toEqual(['reboot']);
  });

  it('answers 400 naming each invalid field of the body', async () => {
    const res = await post('thermostat/t-1', { command: 'has space', payload: [1], timeout: 301 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Answer;
    expect(body.error).toBe('invalid_request');
    expect(Object.keys(body.fields ?? {}).sort()).toEqual(['command', 'payload', 'timeout']);
    expect(received).toEqual([]);
  });

  it('answers 404 unknown_device for a device never heard of', async () => {
    const res = await post('thermostat/t-404', { command: 'reboot' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'unknown_device' });
  });

  it('needs a token: 401 without one, 403 without publish on the cmd channel, 404 for a device the token cannot see', async () => {
    const none = await post('thermostat/t-1', { command: 'reboot' }, null);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: 'missing_token' });
    // The test client token sees everything but may only subscribe.
    const readOnly = await post('thermostat/t-1', { command: 'reboot' }, app.clientToken);
    expect(readOnly.status).toBe(403);
    expect(await readOnly.json()).toMatchObject({ error: 'forbidden' });
    const other = app.app
      .get(TokenService)
      .mint({ peerId: 'x', channels: [`${prefix}/camera/**`], permissions: ['publish'] }).token;
    expect((await post('thermostat/t-1', { command: 'reboot' }, other)).status).toBe(404);
    expect(received).toEqual([]);
  });
});

describe('commands with AUTH=off', () => {
  it('still need a token: AUTH=off opens only the read endpoints', async () => {
    const app = await bootApp({ AUTH: 'off' });
    try {
      const res = await fetch(`${app.url}/api/devices/thermostat/t-1/commands`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ command: 'reboot' }),
      });
      expect(res.status).toBe(401);
    } finally {
      await app.stop();
    }
  });
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import { waitFor } from './support/wait';

/**
 * A Django DeviceHub WeatherStation written out as a declaration file, in
 * DeviceHub's own vocabulary (issue #13, item 2; README "Device types from
 * Django DeviceHub"): `reading_types` names in capitals, Meta options, and
 * `Command(payload={"interval": int})` as `payload: {interval: int}`.
 */
const DEVICEHUB_TYPES = `
types:
  weatherstation:
    protocol: mqtt
    heartbeat_interval: 300
    readings:
      temperature: {type: FLOAT, unit: C, range: [-40, 80]}
      humidity: {type: FLOAT, unit: "%", range: [0, 100]}
    commands:
      reboot: {}
      set_interval:
        payload: {interval: int}
`;

interface CommandBody {
  command: string;
  payload: Record<string, unknown>;
}

describe('a Django DeviceHub declaration file', () => {
  let storage: Storage;
  let app: TestApp;
  let device: mqtt.MqttClient;
  const received: CommandBody[] = [];

  beforeAll(async () => {
    storage = await freshStorage();
    const path = join(storage.dataDir, 'devices.yaml');
    writeFileSync(path, DEVICEHUB_TYPES);
    // `type: FLOAT` used to stop start-up here.
    app = await bootApp({ DEVICE_TYPES: path }, storage);
    const prefix = app.config.mqtt.topicPrefix;
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `ws-dh-${process.pid}` });
    await device.subscribeAsync(`${prefix}/weatherstation/ws-1/cmd`, { qos: 1 });
    device.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString()) as CommandBody));
    await device.publishAsync(`${prefix}/weatherstation/ws-1/data`, JSON.stringify({ temperature: 21.5 }), { qos: 1 });
    await waitFor(
      async () => ((await get('/api/devices/weatherstation/ws-1')).status === 200 ? true : undefined),
      'ws-1 registered',
    );
  });
  afterAll(async () => {
    await device.endAsync();
    await app.stop();
    await storage.dispose();
  });

  const get = (path: string): Promise<Response> =>
    fetch(`${app.url}${path}`, { headers: { Authorization: `Bearer ${app.clientToken}` } });
  const command = (body: unknown): Promise<Response> =>
    fetch(`${app.url}/api/devices/weatherstation/ws-1/commands`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${app.adminToken}` },
      body: JSON.stringify(body),
    });

  it('starts, and stores FLOAT readings as numbers', async () => {
    const body = (await (await get('/api/devices/weatherstation/ws-1')).json()) as {
      latest_readings: Record<string, { value: unknown }>;
    };
    expect(body.latest_readings.temperature.value).toBe(21.5);
  });

  it('answers 400 naming the payload field when {"interval": int} gets a wrong type, nothing, or an unknown field', async () => {
    const cases: [Record<string, unknown>, Record<string, string>][] = [
      [{ interval: 'soon' }, { 'payload.interval': '"soon" is not a number' }],
      [{ interval: 2.5 }, { 'payload.interval': '2.5 is not an integer' }],
      [{}, { 'payload.interval': 'required by command set_interval' }],
      [{ interval: 60, every: 5 }, { 'payload.every': 'not a field of command set_interval' }],
    ];
    for (const [payload, fields] of cases) {
      const res = await command({ command: 'set_interval', payload });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_command', fields });
    }
    expect(received).toEqual([]);
    // The device keeps being served: a valid command right after goes through.
    expect((await command({ command: 'set_interval', payload: { interval: 60 } })).status).toBe(202);
    await waitFor(() => (received.length === 1 ? true : undefined), 'the valid command at the device');
    expect(received[0]).toMatchObject({ command: 'set_interval', payload: { interval: 60 } });
  });
});

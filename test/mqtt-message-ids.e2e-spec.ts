import mqtt from 'mqtt';
import type { DeviceView } from '../src/devices/devices.dto';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import { waitFor } from './support/wait';
import type { WireEvent } from './support/web-clients';

/**
 * Redelivery does not duplicate (issue #11, item 3): a device that puts
 * `message_id` in its payloads may send a message again (at-least-once, or
 * after a reconnect) and the log holds it once, while every publish is
 * acknowledged. Across a restart too. SQLite, and PostgreSQL when
 * DATABASE_URL is set.
 */
describe('MQTT message ids', () => {
  let storage: Storage;
  let app: TestApp;
  let device: mqtt.MqttClient;
  let prefix: string;

  const boot = async (): Promise<void> => {
    app = await bootApp({}, storage);
    prefix = app.config.mqtt.topicPrefix;
    device = await mqtt.connectAsync(app.mqttUrl, { clientId: `msgid-${process.pid}-${Date.now()}` });
  };
  const stop = async (): Promise<void> => {
    await device.endAsync();
    await app.stop();
  };
  beforeAll(async () => {
    storage = await freshStorage();
    await boot();
  });
  afterAll(async () => {
    await stop();
    await storage.dispose();
  });

  const send = (deviceId: string, body: object, kind = 'data'): Promise<unknown> =>
    device.publishAsync(`${prefix}/meter/${deviceId}/${kind}`, JSON.stringify(body), { qos: 1 });
  /** The device's events from the start of the log, as a polling client reads them. */
  const poll = async (deviceId: string): Promise<WireEvent[]> => {
    const res = await fetch(`${app.url}/iot/poll/meter/${deviceId}/?cursor=0&limit=1000`, {
      headers: { Authorization: `Bearer ${app.clientToken}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { events: WireEvent[] }).events;
  };
  /** The device's events in the log, once the last one has `marker` as its reading: the device's messages before it are handled. */
  const logged = (deviceId: string, marker: number): Promise<WireEvent[]> =>
    waitFor(async () => {
      const events = await poll(deviceId);
      return events.at(-1)?.data.marker === marker ? events : undefined;
    }, `the marker ${marker} of ${deviceId}`);

  it('logs a message sent twice once, acknowledges both, and keeps message_id out of the readings', async () => {
    // publishAsync resolves on the broker's PUBACK: each send is acknowledged.
    await send('m-1', { temperature: 21.5, message_id: 'a-1' });
    await send('m-1', { temperature: 21.5, message_id: 'a-1' });
    await send('m-1', { readings: [{ temperature: 1 }, { temperature: 2 }], message_id: 'a-2' });
    await send('m-1', { readings: [{ temperature: 1 }, { temperature: 2 }], message_id: 'a-2' });
    // A repeat whose content differs is still a repeat: neither logged nor shown in the registry (issue #14).
    await send('m-1', { temperature: 99, message_id: 'a-1' });
    await send('m-1', { marker: 1 });
    const events = (await logged('m-1', 1)).filter((e) => e.event === 'data');
    expect(events.map((e) => [e.data, e.message_id])).toEqual([
      [{ temperature: 21.5 }, 'a-1'],
      [{ temperature: 1 }, 'a-2'],
      [{ temperature: 2 }, 'a-2'],
      [{ marker: 1 }, undefined],
    ]);
    // Positions stay gap-free: the repeats took none.
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual(ids.map((_, i) => ids[0] + i));
    const registered = await waitFor(async () => {
      const res = await fetch(`${app.url}/api/devices/meter/m-1`, {
        headers: { Authorization: `Bearer ${app.clientToken}` },
      });
      const d = res.status === 200 ? ((await res.json()) as DeviceView) : undefined;
      return d?.latest_readings.marker !== undefined ? d : undefined;
    }, 'm-1 in the registry with its marker');
    expect(registered.latest_readings.temperature.value).toBe(2);
    expect(registered.last_seen).toBe(events.at(-1)?.received_at);
  });

  it('refuses a message_id that is not a string, and goes on serving other devices', async () => {
    const other = await mqtt.connectAsync(app.mqttUrl, { clientId: `msgid-other-${process.pid}-${Date.now()}` });
    try {
      await send('m-2', { temperature: 1, message_id: 42 });
      await other.publishAsync(`${prefix}/meter/m-3/data`, JSON.stringify({ marker: 2 }), { qos: 1 });
      expect((await logged('m-3', 2)).map((e) => e.data)).toEqual([{ marker: 2 }]);
      const res = await fetch(`${app.url}/admin/rejects?reason=schema_violation`, {
        headers: { Authorization: `Bearer ${app.adminToken}` },
      });
      const { rejects } = (await res.json()) as { rejects: { topic: string; detail: string }[] };
      expect(rejects.find((r) => r.topic === `${prefix}/meter/m-2/data`)?.detail).toBe(
        'message_id: must be a string of 1 to 128 characters',
      );
      expect((await poll('m-2')).filter((e) => e.event === 'data')).toEqual([]);
    } finally {
      await other.endAsync();
    }
  });

  it('knows a message after a restart on the same data', async () => {
    await send('m-4', { temperature: 3, message_id: 'b-1' });
    await send('m-4', { marker: 3 });
    await logged('m-4', 3);
    await stop();
    await boot();
    await send('m-4', { temperature: 3, message_id: 'b-1' });
    await send('m-4', { temperature: 4, message_id: 'b-2' });
    await send('m-4', { marker: 4 });
    const events = (await logged('m-4', 4)).filter((e) => e.event === 'data');
    expect(events.map((e) => e.data)).toEqual([{ temperature: 3 }, { marker: 3 }, { temperature: 4 }, { marker: 4 }]);
  });
});

import mqtt from 'mqtt';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { OwnedBroker } from './support/owned-broker';
import { waitFor } from './support/wait';
import { listenWs } from './support/web-clients';

interface Health {
  status: string;
  broker: { connected: boolean };
}

/**
 * The bridge as a client of an external broker (`MQTT_URL`, issue #2): it
 * ingests from it, reports it down on /health while it is away, reconnects
 * on its own and subscribes again when it is back (the returning broker
 * remembers nothing), counts the disconnect, and with MQTT_SHARE_GROUP asks
 * for a shared subscription. The broker is one the test owns, so it can be
 * taken away; every other suite runs on Mosquitto in the integration run.
 */
describe('external MQTT broker', () => {
  const broker = new OwnedBroker();
  let app: TestApp;
  let device: mqtt.MqttClient | undefined;

  beforeAll(async () => {
    await broker.start();
    app = await bootApp({ MQTT_URL: broker.url, TOPIC_PREFIX: 'things' });
  });
  afterAll(async () => {
    await device?.endAsync(true);
    await app.stop();
    await broker.stop();
  });

  const health = async (): Promise<{ status: number; body: Health }> => {
    const res = await fetch(`${app.url}/health`);
    return { status: res.status, body: (await res.json()) as Health };
  };
  const reconnects = async (): Promise<number> => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    return Number(/^devicehub_mqtt_reconnects_total (\d+)/m.exec(text)?.[1]);
  };
  /**
   * Publishes as a device until a web client (a WebSocket on the device's stream) has the event: the
   * bridge may still be (re)subscribing.
   */
  const deliver = async (deviceId: string, temperature: number): Promise<unknown> => {
    const ws = await listenWs(app, 'weatherstation', deviceId, ['data']);
    device ??= await mqtt.connectAsync(broker.url, { clientId: `ext-device-${process.pid}`, reconnectPeriod: 200 });
    const topic = `things/weatherstation/${deviceId}/data`;
    const body = JSON.stringify({ temperature });
    try {
      const event = await waitFor(
        async () => {
          const [got] = ws.events();
          if (got !== undefined) return got;
          if (device?.connected) await device.publishAsync(topic, body, { qos: 1 });
          await new Promise((resolve) => setTimeout(resolve, 200));
          return ws.events()[0];
        },
        `${deviceId}'s data through the external broker`,
        15_000,
      );
      return event.data;
    } finally {
      ws.close();
    }
  };

  it('ingests what devices publish at the external broker, and reports it up', async () => {
    expect(await deliver('ext-1', 21)).toEqual({ temperature: 21 });
    expect(await health()).toMatchObject({ status: 200, body: { status: 'ok', broker: { connected: true } } });
    expect(broker.subscriptions).toContainEqual(expect.objectContaining({ topic: 'things/#' }));
  });

  it('answers /health 503 while the broker is away, then reconnects, subscribes again and ingests', async () => {
    const before = await reconnects();
    const subscribed = broker.subscriptions.filter((s) => s.topic === 'things/#').length;
    await device?.endAsync(true);
    device = undefined;
    await broker.stop();
    await broker.refuse();

    const down = await waitFor(async () => {
      const h = await health();
      return h.status === 503 ? h : undefined;
    }, '/health 503');
    expect(down.body).toMatchObject({ status: 'down', broker: { connected: false } });
    // Retried with backoff, and counted as one disconnect however many attempts the outage takes.
    await waitFor(() => (broker.refused >= 2 ? true : undefined), 'two reconnect attempts', 10_000);
    expect(await reconnects()).toBe(before + 1);

    await broker.start();
    await waitFor(async () => ((await health()).status === 200 ? true : undefined), '/health 200 again', 15_000);
    // The broker came back empty: only a new SUBSCRIBE brings device messages to the bridge.
    expect(broker.subscriptions.filter((s) => s.topic === 'things/#').length).toBeGreaterThan(subscribed);
    expect(await deliver('ext-2', 22)).toEqual({ temperature: 22 });
    expect(await reconnects()).toBe(before + 1);
  });
});

describe('external MQTT broker with MQTT_SHARE_GROUP', () => {
  const broker = new OwnedBroker();
  beforeAll(() => broker.start());
  afterAll(() => broker.stop());

  it("ingests by lease: the group's one persistent session subscribes to $share/{group}/{prefix}/# (issue #12)", async () => {
    const app = await bootApp({ MQTT_URL: broker.url, MQTT_SHARE_GROUP: 'bridges', TOPIC_PREFIX: 'fleet' });
    try {
      const seen = await waitFor(
        () => broker.subscriptions.find((s) => s.topic.includes('fleet')),
        'the bridge subscription',
      );
      expect(seen).toEqual({ clientId: 'devicehub-bridges-fleet', topic: '$share/bridges/fleet/#', clean: false });
      expect(broker.subscriptions.filter((s) => s.topic.includes('fleet'))).toHaveLength(1);
      // A second connection, clean, publishes commands; it subscribes to nothing.
      expect(broker.connects.filter((id) => id !== 'devicehub-bridges-fleet')).toHaveLength(1);
      const health = (await (await fetch(`${app.url}/health`)).json()) as Record<string, unknown>;
      expect(health.broker).toEqual({ connected: true, ingestion: { mode: 'lease', ingesting: true, epoch: 1 } });
    } finally {
      await app.stop();
    }
  });

  it('with MQTT_INGEST=shared, every member subscribes on a clean session of its own', async () => {
    const app = await bootApp({
      MQTT_URL: broker.url,
      MQTT_SHARE_GROUP: 'sharers',
      MQTT_INGEST: 'shared',
      TOPIC_PREFIX: 'fleet2',
    });
    try {
      const seen = await waitFor(
        () => broker.subscriptions.find((s) => s.topic.includes('fleet2')),
        'the bridge subscription',
      );
      expect(seen).toMatchObject({ topic: '$share/sharers/fleet2/#', clean: true });
      expect(seen.clientId).not.toBe('devicehub-sharers-fleet2');
    } finally {
      await app.stop();
    }
  });
});

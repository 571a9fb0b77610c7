import type { HttpAdapterHost } from '@nestjs/core';
import mqtt from 'mqtt';
import { UpgradeRouter } from '../common/upgrade-router';
import type { AppConfig } from '../config/app-config';
import type { CredentialsService } from './credentials.service';
import { EmbeddedBrokerTransport } from './embedded-broker.transport';
import type { InboundMessage } from './mqtt-transport';

const config = {
  http: { port: 0, host: '127.0.0.1' },
  mqtt: { port: 0, topicPrefix: 'things', deviceAuth: false, maxInFlight: 10_000 },
  maxMessageSize: 65536,
} as AppConfig;

/** Resolves when `check` holds; polls the event loop, no fixed sleep. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The embedded broker against a real MQTT client (issue #11): a QoS 1 message
 * is acknowledged only once ingestion says its event is committed, QoS 0 is
 * not held, and a shutdown acknowledges what gets committed in time and
 * nothing else.
 */
describe('EmbeddedBrokerTransport acknowledgements', () => {
  let transport: EmbeddedBrokerTransport;
  /** Ingestion that holds every message until the test commits it, as a slow log write would. */
  const received: { key: string; qos: number; commit: () => void }[] = [];
  const devices: mqtt.MqttClient[] = [];

  beforeEach(async () => {
    received.length = 0;
    transport = new EmbeddedBrokerTransport(
      config,
      new UpgradeRouter(),
      { onRevoke: () => undefined } as unknown as CredentialsService,
      { httpAdapter: undefined } as unknown as HttpAdapterHost,
    );
    await transport.start((message: InboundMessage, done) => {
      const { seq, qos } = JSON.parse(message.payload.toString()) as { seq: number; qos: number };
      received.push({ key: `${message.topic.split('/')[2]}:${seq}`, qos, commit: done });
    });
  });

  afterEach(async () => {
    devices.splice(0).forEach((device) => device.end(true));
    await transport.stop();
  });

  /** Devices each publishing `count` numbered QoS 1 messages at once; the keys acknowledged so far. */
  const publishAll = async (deviceCount: number, count: number, qos: 0 | 1 = 1): Promise<Set<string>> => {
    const acked = new Set<string>();
    for (let d = 0; d < deviceCount; d++) {
      const device = await mqtt.connectAsync(transport.describe().tcp as string, {
        clientId: `meter-${d}`,
        reconnectPeriod: 0,
      });
      device.on('error', () => undefined);
      devices.push(device);
      for (let seq = 0; seq < count; seq++) {
        device.publish(`things/meter/m-${d}/data`, JSON.stringify({ seq, qos }), { qos }, (err) => {
          if (!err) acked.add(`m-${d}:${seq}`);
        });
      }
    }
    return acked;
  };

  it('acknowledges a QoS 1 message only once its commit is reported, while reading goes on', async () => {
    const acked = await publishAll(5, 300);
    // Every message reaches ingestion although none is committed: reading does not wait for acknowledgements.
    await until(() => received.length === 1500, 'all 1,500 messages handed to ingestion');
    expect(acked.size).toBe(0);

    const committed = new Set<string>();
    for (const message of received.filter((_, i) => i % 2 === 0)) {
      committed.add(message.key);
      message.commit();
    }
    await until(() => acked.size === committed.size, `${committed.size} acknowledgements`);
    expect([...acked].filter((key) => !committed.has(key))).toEqual([]);

    received.forEach((message) => message.commit());
    await until(() => acked.size === 1500, 'every message acknowledged once committed');
  });

  it('does not hold QoS 0 messages for the log', async () => {
    await publishAll(1, 50, 0);
    await until(() => received.length === 50, '50 QoS 0 messages handed to ingestion');
    expect(received.every((m) => m.qos === 0)).toBe(true);
  });

  it('at shutdown acknowledges what is committed in time, and nothing that is not', async () => {
    const acked = await publishAll(4, 250);
    await until(() => received.length === 1000, 'all messages handed to ingestion');
    let stopped = false;
    const stopping = transport.stop().then(() => (stopped = true));
    // Half is committed while the broker stops; the rest never is.
    const committed = new Set(received.slice(0, 500).map((m) => m.key));
    received.slice(0, 500).forEach((m) => m.commit());
    await until(() => acked.size === 500, 'the committed half acknowledged during shutdown');
    expect(stopped).toBe(false); // still waiting for the other half (bounded by the drain timeout)
    expect([...acked].filter((key) => !committed.has(key))).toEqual([]);
    received.slice(500).forEach((m) => m.commit());
    await stopping;
    expect(transport.connected).toBe(false);
  });
});

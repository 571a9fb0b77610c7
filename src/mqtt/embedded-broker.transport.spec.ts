import type { HttpAdapterHost } from '@nestjs/core';
import mqtt from 'mqtt';
import { UpgradeRouter } from '../common/upgrade-router';
import type { AppConfig } from '../config/app-config';
import type { CredentialsService } from './credentials.service';
import { EmbeddedBrokerTransport } from './embedded-broker.transport';
import type { InboundMessage } from './mqtt-transport';

const config = {
  http: { port: 0, host: '127.0.0.1' },
  mqtt: { port: 0, topicPrefix: 'things', deviceAuth: false },
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
 * The embedded broker against a real MQTT client. aedes acknowledges a QoS 1
 * message when it accepts it, before ingestion has it, so shutdown is where an
 * acknowledged message could be lost.
 */
describe('EmbeddedBrokerTransport shutdown', () => {
  it('hands ingestion every message it acknowledged before it closes, also those still queued', async () => {
    const transport = new EmbeddedBrokerTransport(
      config,
      new UpgradeRouter(),
      { onRevoke: () => undefined } as unknown as CredentialsService,
      { httpAdapter: undefined } as unknown as HttpAdapterHost,
    );
    // Ingestion that holds every message until the test lets it go, as a slow log write would.
    const received: InboundMessage[] = [];
    const held: (() => void)[] = [];
    await transport.start((message, done) => {
      received.push(message);
      held.push(done);
    });
    // Several devices: ingestion's window takes 10,000 messages, the broker hands out 1,000 more, the rest wait in its queue, acknowledged.
    const devices = await Promise.all(
      Array.from({ length: 10 }, (_, d) =>
        mqtt.connectAsync(transport.describe().tcp as string, { clientId: `meter-${d}`, reconnectPeriod: 0 }),
      ),
    );
    try {
      const acked = new Set<string>();
      devices.forEach((device, d) => {
        device.on('error', () => undefined);
        for (let seq = 0; seq < 1400; seq++) {
          device.publish(`things/meter/m-${d}/data`, JSON.stringify({ seq }), { qos: 1 }, (err) => {
            if (!err) acked.add(`m-${d}:${seq}`);
          });
        }
      });
      await until(() => acked.size > received.length + 100, 'acknowledged messages queued behind ingestion');

      let stopped = false;
      const stopping = transport.stop().then(() => (stopped = true));
      // Ingestion catches up while the broker stops.
      await until(() => {
        held.splice(0).forEach((done) => done());
        return stopped;
      }, 'the broker stopped');
      await stopping;
      const ingested = new Set(
        received.map((m) => `${m.topic.split('/')[2]}:${(JSON.parse(m.payload.toString()) as { seq: number }).seq}`),
      );
      expect([...acked].filter((key) => !ingested.has(key))).toEqual([]);
      expect(transport.connected).toBe(false);
    } finally {
      devices.forEach((device) => device.end(true));
      await transport.stop();
    }
  });
});

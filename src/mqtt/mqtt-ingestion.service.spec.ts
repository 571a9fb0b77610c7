import type { AppConfig } from '../config/app-config';
import { DeviceTypes } from '../config/device-types';
import { FencedError } from '../bus/ingest-fence';
import type { IngestFence } from '../bus/ingest-fence';
import type { DeviceIngestService } from '../devices/device-ingest.service';
import type { IngestMessage } from '../devices/ingest-message';
import type { MetricsService } from '../observability/metrics.service';
import { MqttIngestionService } from './mqtt-ingestion.service';
import type { Done, InboundMessage, MqttTransport } from './mqtt-transport';
import type { RejectsService } from './rejects.service';

const config = {
  mqtt: { topicPrefix: 'things' },
  maxMessageSize: 65536,
  json: { maxDepth: 32, maxKeys: 1000 },
} as AppConfig;

type Enqueue = (messages: readonly IngestMessage[], fence?: IngestFence) => ReturnType<DeviceIngestService['enqueue']>;

/** Ingestion between a fake transport (messages in, acknowledgements out) and a fake device service. */
async function setup(enqueue: Enqueue) {
  let handler: ((message: InboundMessage, done: Done) => void) | undefined;
  const transport = {
    onDeviceConnect: () => undefined,
    start: (h: (message: InboundMessage, done: Done) => void) => {
      handler = h;
      return Promise.resolve();
    },
  };
  const rejected: { topic: string; reason: string }[] = [];
  const rejects = { record: (topic: string, _payload: Buffer, reason: string) => rejected.push({ topic, reason }) };
  const devices = { enqueue: jest.fn(enqueue), connected: () => Promise.resolve() };
  const metrics = { mqttMessages: { labels: () => ({ inc: () => undefined }) } };
  const ingestion = new MqttIngestionService(
    config,
    new DeviceTypes(),
    transport as unknown as MqttTransport,
    devices as unknown as DeviceIngestService,
    rejects as unknown as RejectsService,
    metrics as unknown as MetricsService,
  );
  await ingestion.onApplicationBootstrap();
  /** Hands a message in; resolves with what its `done` said: acknowledge or not. */
  const receive = (topic: string, body: unknown, fence?: IngestFence): Promise<boolean> =>
    new Promise((resolve) =>
      handler?.({ topic, payload: Buffer.from(JSON.stringify(body)), fence }, (acknowledge = true) =>
        resolve(acknowledge),
      ),
    );
  return { ingestion, receive, rejected, devices };
}

describe('MqttIngestionService', () => {
  it('acknowledges a message once its batch is written', async () => {
    const s = await setup(() => Promise.resolve({ written: Promise.resolve([]), failed: [] }));
    await expect(s.receive('things/ws/a/data', { t: 1 })).resolves.toBe(true);
    expect(s.rejected).toEqual([]);
  });

  it('keeps every message of a batch the device service throws on as an ingest_failed reject (issue #11, item 4)', async () => {
    const s = await setup(() => Promise.reject(new Error('a bug')));
    const acks = await Promise.all([s.receive('things/ws/a/data', { t: 1 }), s.receive('things/ws/b/data', { t: 2 })]);
    // Acknowledged: a redelivery would fail alike; kept where an operator looks.
    expect(acks).toEqual([true, true]);
    expect(s.rejected).toEqual([
      { topic: 'things/ws/a/data', reason: 'ingest_failed' },
      { topic: 'things/ws/b/data', reason: 'ingest_failed' },
    ]);
  });

  it('never acknowledges what its ingest lease ended before writing (issue #12): the next holder is sent it', async () => {
    const fence: IngestFence = { lease: 'g/things', epoch: 3, current: false };
    const s = await setup(() => Promise.resolve({ written: Promise.reject(new FencedError([fence])), failed: [] }));
    await expect(s.receive('things/ws/a/data', { t: 1 }, fence)).resolves.toBe(false);
    expect(s.rejected).toEqual([]);
  });

  it('queues messages of two lease epochs as two batches, each with its own fence', async () => {
    const s = await setup(() => Promise.resolve({ written: Promise.resolve([]), failed: [] }));
    const older: IngestFence = { lease: 'g/things', epoch: 1, current: false };
    const newer: IngestFence = { lease: 'g/things', epoch: 2, current: true };
    await Promise.all([
      s.receive('things/ws/a/data', { t: 1 }, older),
      s.receive('things/ws/a/data', { t: 2 }, newer),
      s.receive('things/ws/a/data', { t: 3 }, newer),
    ]);
    expect(s.devices.enqueue.mock.calls.map(([messages, fence]) => [messages.length, fence?.epoch])).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });
});

import type { AddressInfo, Server } from 'node:net';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import type { Client, PublishPacket } from 'aedes';
import mqtt from 'mqtt';
import type { IngestLeaseService } from '../cluster/ingest-lease.service';
import type { AppConfig } from '../config/app-config';
import type { MetricsService } from '../observability/metrics.service';
import { ExternalBrokerTransport } from './external-broker.transport';
import type { InboundMessage } from './mqtt-transport';
import { waitFor } from '../../test/support/wait';

const BRIDGE_ID = 'bridge-under-test';

/** Resolves when `check` holds, within 10 s. */
const until = (check: () => boolean, what: string): Promise<true> =>
  waitFor(() => (check() ? true : undefined), what, 10_000);

/**
 * The bridge as a client of an external broker (issue #11, items 1 and 2),
 * against a real broker (aedes, MQTT 3.1.1, so the transport falls back from
 * MQTT 5): a QoS 1 message is acknowledged to the broker only once
 * ingestion says its event is committed, reading goes on meanwhile, and
 * what was not acknowledged when the connection dropped is sent again by the
 * broker to the same session and acknowledged only when that copy commits,
 * never by a late commit of the first copy.
 */
describe('ExternalBrokerTransport acknowledgements', () => {
  let broker: Aedes;
  let server: Server;
  let transport: ExternalBrokerTransport;
  let device: mqtt.MqttClient;
  /** The bridge's connection as the broker sees it (the latest one). */
  let bridge: Client | undefined;
  /** Ingestion that holds every message until the test commits it, as a slow log write would. */
  const received: { seq: number; dup: boolean; commit: () => void }[] = [];
  /** Sequence numbers the bridge acknowledged to the broker (PUBACK received by the broker). */
  const acked: number[] = [];

  beforeEach(async () => {
    received.length = 0;
    acked.length = 0;
    broker = new Aedes();
    await broker.listen();
    // aedes names the message a PUBACK acknowledges for a persistent session (it keeps what it sent
    // until then), which is how the bridge connects when MQTT_CLIENT_ID names it.
    broker.on('ack', (packet, client: Client) => {
      if (client?.id === BRIDGE_ID && packet?.cmd === 'publish') acked.push(seqOf(packet));
    });
    broker.on('client', (client: Client) => {
      if (client.id === BRIDGE_ID) bridge = client;
    });
    server = createServer((socket) => broker.handle(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    transport = new ExternalBrokerTransport(
      {
        http: { port: 0, host: '127.0.0.1' },
        dataDir: '.',
        mqtt: { url, topicPrefix: 'things', clientId: BRIDGE_ID, maxInFlight: 1000 },
      } as AppConfig,
      { mqttReconnects: { inc: () => undefined } } as unknown as MetricsService,
      // Alone, not in a share group: no ingest lease.
      {} as IngestLeaseService,
    );
    await transport.start((message: InboundMessage, done) => {
      const { seq } = JSON.parse(message.payload.toString()) as { seq: number };
      received.push({ seq, dup: received.some((r) => r.seq === seq), commit: done });
    });
    await until(() => transport.connected, 'the bridge connected and subscribed');
    device = await mqtt.connectAsync(url, { clientId: 'meter-1', reconnectPeriod: 0 });
  });

  afterEach(async () => {
    await device.endAsync(true);
    received.forEach((m) => m.commit());
    await transport.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  });

  const publish = async (count: number): Promise<void> => {
    for (let seq = 0; seq < count; seq++)
      await device.publishAsync('things/meter/m-1/data', JSON.stringify({ seq }), { qos: 1 });
  };
  const sorted = (values: number[]): number[] => [...values].sort((a, b) => a - b);

  it('acknowledges a QoS 1 message to the broker only once its commit is reported, while reading goes on', async () => {
    await publish(200);
    // Every message reaches ingestion although none is committed: reading does not wait for acknowledgements.
    await until(() => received.length === 200, 'all 200 messages handed to ingestion');
    expect(acked).toEqual([]);

    const evens = received.filter((m) => m.seq % 2 === 0);
    evens.forEach((m) => m.commit());
    await until(() => acked.length === 100, '100 acknowledgements');
    expect(sorted(acked)).toEqual(evens.map((m) => m.seq));

    received.forEach((m) => m.commit());
    await until(() => acked.length === 200, 'every message acknowledged once committed');
    expect(new Set(acked).size).toBe(200);
  });

  it('gets what it had not acknowledged again after its connection drops, and acknowledges only the new copy', async () => {
    await publish(10);
    await until(() => received.length === 10, '10 messages handed to ingestion');
    received.slice(0, 4).forEach((m) => m.commit());
    await until(() => acked.length === 4, 'the first 4 acknowledged');

    // The connection drops (a network cut): the session stays at the broker (persistent, named).
    const first = received.slice(4);
    bridge?.conn.destroy();
    await until(() => received.length === 16, 'the 6 unacknowledged messages sent again');
    const again = received.slice(10);
    expect(again.map((m) => m.seq)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(again.every((m) => m.dup)).toBe(true);

    // The first copies commit late: nothing may be acknowledged for them on the new connection,
    // where the same packet identifiers may name other messages.
    first.forEach((m) => m.commit());
    await until(() => transport.connected, 'the bridge subscribed again');
    expect(acked).toHaveLength(4);

    again.forEach((m) => m.commit());
    await until(() => acked.length === 10, 'the copies acknowledged once committed');
    expect(sorted(acked)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('at shutdown acknowledges what is committed in time, and nothing that is not', async () => {
    await publish(20);
    await until(() => received.length === 20, '20 messages handed to ingestion');
    let stopped = false;
    const stopping = transport.stop().then(() => (stopped = true));
    received.slice(0, 10).forEach((m) => m.commit());
    await until(() => acked.length === 10, 'the committed half acknowledged during shutdown');
    expect(stopped).toBe(false); // still waiting for the other half (bounded by the drain timeout)
    expect(sorted(acked)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    received.slice(10).forEach((m) => m.commit());
    await stopping;
    expect(transport.connected).toBe(false);
  });
});

function seqOf(packet: PublishPacket): number {
  return (JSON.parse(packet.payload.toString()) as { seq: number }).seq;
}

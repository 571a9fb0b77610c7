import net from 'node:net';
import type { MqttClient } from 'mqtt';
import { freePort } from './cluster/cluster-harness';
import type { TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import type { DtEvent } from './support/dt-stream-client';
import { dtStream } from './support/dt-stream-client';
import { waitFor } from './support/wait';
import { clientToken, connectDevice, publishNumbers, range } from './support/web-clients';

/**
 * A TCP relay to the app's port that can go silent: `silence()` makes the
 * connections open at that moment drop every byte from the server (a
 * network that stopped delivering, the case DT's ping timeout is for),
 * while they stay open; new connections are relayed normally.
 */
async function silencingRelay(targetPort: number): Promise<{ url: string; silence(): void; close(): Promise<void> }> {
  const open = new Set<{ silent: boolean; client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { silent: false, client, upstream };
    open.add(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!pair.silent) client.write(chunk);
    });
    const done = (): void => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', done);
      socket.on('error', done);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    silence: () => open.forEach((pair) => (pair.silent = true)),
    close: () =>
      new Promise<void>((resolve) => {
        open.forEach((pair) => pair.client.destroy());
        server.close(() => resolve());
      }),
  };
}

/**
 * Disruptive Technologies' own stream loop runs unchanged against the NDJSON
 * stream (issue #13, item 1; bridge.md, "Web delivery"): it reads
 * `payload['result']['event']`, branches on `eventType`, times out when no
 * line comes within ping_interval + jitter, reconnects with backoff, and,
 * resuming with the last event's id, sees every event exactly once across a
 * silent network and a restart of the service.
 */
describe("Disruptive Technologies' stream client", () => {
  it('sees every published event exactly once, in order, across a ping timeout and a restart', async () => {
    const storage = await freshStorage();
    const port = await freePort();
    const env = {
      PORT: String(port),
      JWT_SECRET: 'dt-client-secret-0123456789abcdef',
      ADMIN_TOKEN: 'dt-admin-0123456789',
    };
    const relay = await silencingRelay(port);
    const stop = new AbortController();
    const log: string[] = [];
    const seen: DtEvent[] = [];
    let app: TestApp = await bootApp(env, storage);
    let device: MqttClient | undefined;
    let loop: Promise<void> | undefined;
    try {
      const token = clientToken(app, { expiresInSec: 600 });
      // DT's parameters as their client sends them: ping_interval as `Ns`, event_types repeated per name.
      const params = { ping_interval: '1s', event_types: ['data', 'status'], token };
      const options = { pingInterval: 1, pingJitter: 2, requestRetries: 5, resume: true, signal: stop.signal };
      loop = (async () => {
        for await (const event of dtStream(`${relay.url}/iot/stream/dtsensor/`, params, {
          ...options,
          log: (line) => log.push(line),
        })) {
          seen.push(event);
        }
      })();
      const numbersSeen = (): number[] =>
        seen.filter((e) => e.eventType === 'data').map((e) => (e.data as { n: number }).n);
      const seenAll = (count: number, what: string, ms?: number): Promise<true> =>
        waitFor(() => (numbersSeen().length >= count ? true : undefined), what, ms);
      await waitFor(() => seen.find((e) => e.eventType === 'connected'), 'the connected line');
      await waitFor(() => (log.includes('Got ping') ? true : undefined), 'a ping', 3000);
      const numbers = range(1, 12);

      device = await connectDevice(app, 'dt-sensor');
      await publishNumbers(app, device, 'dtsensor', 's-1', numbers.slice(0, 4));
      await seenAll(4, 'the first events');

      // The network goes silent: no line, not even a ping, so the client times out and reconnects.
      relay.silence();
      await publishNumbers(app, device, 'dtsensor', 's-1', numbers.slice(4, 7));
      await seenAll(7, 'the events sent while the network was silent', 10_000);
      expect(log.some((line) => line.startsWith('Read timed out'))).toBe(true);

      // Silent again, then the service restarts: what it sent meanwhile was lost on the way.
      relay.silence();
      await publishNumbers(app, device, 'dtsensor', 's-1', numbers.slice(7, 9));
      await device.endAsync();
      await app.stop();
      app = await bootApp(env, storage);
      device = await connectDevice(app, 'dt-sensor');
      await publishNumbers(app, device, 'dtsensor', 's-1', numbers.slice(9));
      await seenAll(numbers.length, 'every event after the restart', 30_000);
      expect(log.some((line) => line.startsWith('Connection lost. Retry'))).toBe(true);

      expect(numbersSeen()).toEqual(numbers);
      const data = seen.filter((e) => e.eventType === 'data');
      expect(data[0]).toMatchObject({ eventType: 'data', event: 'data', device_type: 'dtsensor', device_id: 's-1' });
      const ids = data.map((e) => BigInt(e.id as string));
      expect(ids.every((id, i) => i === 0 || id > ids[i - 1])).toBe(true);
    } finally {
      stop.abort();
      await loop;
      await device?.endAsync();
      await relay.close();
      await app.stop();
      await storage.dispose();
    }
  }, 60_000);
});

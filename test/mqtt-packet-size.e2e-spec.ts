import { connect as connectTcp } from 'node:net';
import WebSocket from 'ws';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import type { WsClient } from './support/web-clients';
import { connectDevice, openWs, wsUrl } from './support/web-clients';

const CONNECT_311 = Buffer.from('100e00044d5154540402003c0002667a', 'hex');
/** A PUBLISH fixed header announcing 200 MB (remaining length as MQTT's 7-bit varint). */
const HUGE_PUBLISH = Buffer.from([0x30, 0x80, 0x80, 0xc0, 0x64]);
const MEGABYTE = Buffer.alloc(1024 * 1024, 0x61);

/**
 * One MQTT packet is bounded on the embedded broker (issue #18): aedes kept
 * every byte of a packet until it was complete, so a client announcing a
 * 200 MB packet, before any CONNECT or credential, held that much memory per
 * connection. Now the connection is cut at the header. Always the embedded
 * broker, also in the integration run.
 */
describe('embedded MQTT broker: packet size', () => {
  let app: TestApp;
  let ws: WsClient;

  beforeAll(async () => {
    app = await bootApp({ MQTT_URL: undefined, DEVICE_AUTH: 'off', TOPIC_PREFIX: 'things' });
    ws = await openWs(wsUrl(app, `/ws/iot/weatherstation/big-1/?token=${app.clientToken}`));
  });
  afterAll(async () => {
    ws.close();
    await app.stop();
  });

  /** Streams up to 64 MB after `head` until the broker hangs up; how many megabytes it took. */
  const stream = async (write: (chunk: Buffer) => Promise<boolean>, closed: () => boolean): Promise<number> => {
    let sent = 0;
    while (sent < 64 && !closed()) {
      if (!(await write(MEGABYTE))) break;
      sent++;
    }
    return sent;
  };

  it.each([
    ['before CONNECT', Buffer.alloc(0)],
    ['after CONNECT', CONNECT_311],
  ])('hangs up on a TCP client that announces a 200 MB packet %s, at its header', async (_when, before) => {
    const socket = connectTcp(Number(new URL(app.mqttUrl).port), '127.0.0.1');
    let closed = false;
    const gone = new Promise<void>((resolve) =>
      socket.once('close', () => {
        closed = true;
        resolve();
      }),
    );
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(Buffer.concat([before, HUGE_PUBLISH]));
    const sent = await stream(
      (chunk) =>
        new Promise((resolve) =>
          socket.write(chunk)
            ? resolve(!closed)
            : socket.once('drain', () => resolve(!closed)).once('close', () => resolve(false)),
        ),
      () => closed,
    );
    await gone;
    // The kernel's buffers take a few megabytes before the close is seen; far from 64.
    expect(sent).toBeLessThan(32);
    const device = await connectDevice(app, 'big-1');
    await device.publishAsync('things/weatherstation/big-1/data', JSON.stringify({ temperature: 1 }), { qos: 1 });
    expect((await ws.waitForEvents(1)).at(-1)?.data).toEqual({ temperature: 1 });
    device.end(true);
  });

  it('hangs up on MQTT over WebSocket that spreads a 200 MB packet over small frames', async () => {
    const socket = new WebSocket(wsUrl(app, '/mqtt'), ['mqtt']);
    socket.on('error', () => undefined);
    let closed = false;
    const gone = new Promise<void>((resolve) =>
      socket.once('close', () => {
        closed = true;
        resolve();
      }),
    );
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(Buffer.concat([CONNECT_311, HUGE_PUBLISH]));
    const sent = await stream(
      (chunk) =>
        new Promise((resolve) => {
          if (closed) return resolve(false);
          // 64 KB frames, each well under the WebSocket frame limit.
          for (let i = 0; i < chunk.length; i += 65_536) socket.send(chunk.subarray(i, i + 65_536));
          const wait = (): void =>
            socket.bufferedAmount > 4 * 1024 * 1024 && !closed ? void setImmediate(wait) : resolve(!closed);
          wait();
        }),
      () => closed,
    );
    await gone;
    expect(sent).toBeLessThan(32);
  });
});

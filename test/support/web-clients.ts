import mqtt from 'mqtt';
import WebSocket from 'ws';
import { TokenService } from '../../src/auth/token.service';
import type { MintRequest } from '../../src/auth/token.service';
import type { DeviceEvent } from '../../src/bus/device-event';
import type { TestApp } from './app';
import { waitFor } from './wait';

/** An event as every web transport carries it: the bus's own shape (bridge.md, "Events"). */
export type WireEvent = DeviceEvent;

/** A client token with the given claims (every channel unless narrowed). */
export function clientToken(app: TestApp, request: Partial<MintRequest> = {}): string {
  return app.app.get(TokenService).mint({ peerId: 'web-test', channels: ['**'], ...request }).token;
}

export function wsUrl(app: TestApp, path: string): string {
  return `${app.url.replace(/^http/, 'ws')}${path}`;
}

export interface WsClient {
  ws: WebSocket;
  /** Every text frame, parsed. */
  frames: Record<string, unknown>[];
  /** Frames that are device events (they carry an `id`). */
  events(): WireEvent[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `count` events have arrived; rejects at the deadline. */
  waitForEvents(count: number, timeoutMs?: number): Promise<WireEvent[]>;
  close(): void;
}

/** Opens a raw WebSocket and resolves once it is open (or closed, for refusals). */
export async function openWs(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  const ws = new WebSocket(url, { headers });
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => resolve());
    ws.once('error', reject);
  });
  const events = (): WireEvent[] => frames.filter((f) => typeof f.id === 'string') as unknown as WireEvent[];
  return {
    ws,
    frames,
    events,
    closed,
    waitForEvents: (count, timeoutMs = 5000) =>
      waitFor(() => (events().length >= count ? events() : undefined), `${count} WebSocket events`, timeoutMs),
    close: () => ws.close(),
  };
}

/**
 * Listens as a web client does: a raw WebSocket on `/ws/iot/{type}/` or
 * `/ws/iot/{type}/{id}/` with the app's client token, narrowed to
 * `event_types` when given. Open before publishing what it should see.
 */
export function listenWs(app: TestApp, type: string, id?: string, eventTypes?: string[]): Promise<WsClient> {
  const query = new URLSearchParams({ token: app.clientToken });
  if (eventTypes !== undefined) query.set('event_types', eventTypes.join(','));
  return openWs(wsUrl(app, `/ws/iot/${type}/${id === undefined ? '' : `${id}/`}?${query.toString()}`));
}

/** A device on the app's broker (embedded, or the external one in the integration run). */
export async function connectDevice(app: TestApp, name: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(app.mqttUrl, { clientId: `${name}-${process.pid}-${Date.now()}` });
}

/** Publishes `data` messages `{n}` for n in `numbers`, QoS 1, in order. */
export async function publishNumbers(
  app: TestApp,
  device: mqtt.MqttClient,
  type: string,
  id: string,
  numbers: number[],
): Promise<void> {
  for (const n of numbers) {
    await device.publishAsync(`${app.config.mqtt.topicPrefix}/${type}/${id}/data`, JSON.stringify({ n }), { qos: 1 });
  }
}

export function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** Fresh numbers for each test's messages, so that no test takes an earlier test's event for its own. */
export function numbering(): (count: number) => number[] {
  let n = 0;
  return (count) => {
    const numbers = range(n + 1, count);
    n += count;
    return numbers;
  };
}

/** The `n` of each data event, in arrival order. */
export function numbersOf(events: Pick<WireEvent, 'event' | 'data'>[]): number[] {
  return events.filter((e) => e.event === 'data').map((e) => e.data.n as number);
}

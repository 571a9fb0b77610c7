import { connect as connectTcp } from 'node:net';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { TestApp } from '../support/app';
import { waitFor } from '../support/wait';
import type { Rng } from './generators';
import {
  HOSTILE_NAMES,
  hostileJson,
  mutate,
  randomName,
  randomPayload,
  randomSegment,
  randomValue,
} from './generators';

/**
 * One fuzzer per entry point (issue #18). Each sends `count` inputs and
 * records a finding whenever the service answers in a way no input may
 * cause: no answer at all, a 5xx, an `internal_error`, a close with 1011.
 * Refusals (4xx, error frames, rejects, closes for protocol errors) are the
 * expected answers and are only counted.
 */
export interface FuzzTally {
  inputs: Record<string, number>;
  findings: string[];
}

export function newTally(): FuzzTally {
  return { inputs: {}, findings: [] };
}

function count(tally: FuzzTally, entry: string): void {
  tally.inputs[entry] = (tally.inputs[entry] ?? 0) + 1;
}

const TYPES = ['weatherstation', 'fuzz', '_all'] as const;
const IDS = ['ws-001', 'f-1', 'good'] as const;
const KINDS = ['data', 'status', 'cmd/response', 'cmd', 'unknown'] as const;

/** Resolves with the promise's value, or undefined once `ms` have passed. */
async function settled<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Random topics and payloads from a device, QoS 0 and 1; the client reconnects when the broker cuts it. */
export async function fuzzMqtt(app: TestApp, rng: Rng, inputs: number, tally: FuzzTally): Promise<void> {
  const prefix = app.config.mqtt.topicPrefix;
  let client = await mqtt.connectAsync(app.mqttUrl, { clientId: `fuzz-${rng.int(0, 1e9)}`, reconnectPeriod: 0 });
  try {
    for (let i = 0; i < inputs; i++) {
      if (!client.connected) {
        client.end(true);
        client = await mqtt.connectAsync(app.mqttUrl, { clientId: `fuzz-${rng.int(0, 1e9)}`, reconnectPeriod: 0 });
      }
      const topic = rng.chance(0.8)
        ? `${prefix}/${randomSegment(rng, TYPES)}/${randomSegment(rng, IDS)}/${rng.pick(KINDS)}`
        : Array.from({ length: rng.int(0, 9) }, () => randomName(rng)).join('/');
      count(tally, 'mqtt');
      // mqtt.js refuses some topics itself (wildcards, empty); those never leave the process.
      await settled(
        client.publishAsync(topic, randomPayload(rng), { qos: rng.pick([0, 1] as const) }).catch(() => undefined),
        2000,
      );
    }
  } finally {
    client.end(true);
  }
}

const CONNECT_311 = Buffer.from('100e00044d5154540402003c0002667a', 'hex');

/** Garbage and mutated MQTT packets on the embedded broker's TCP port. */
export async function fuzzMqttBytes(app: TestApp, rng: Rng, inputs: number, tally: FuzzTally): Promise<void> {
  const url = new URL(app.mqttUrl);
  for (let i = 0; i < inputs; i++) {
    count(tally, 'mqtt-bytes');
    const bytes = rng.chance(0.3)
      ? Buffer.concat([CONNECT_311, mutate(rng, Buffer.from('3012000e74686973206973206120746f706963'))])
      : mutate(rng, CONNECT_311);
    await new Promise<void>((resolve) => {
      const socket = connectTcp(Number(url.port), url.hostname, () => socket.end(bytes));
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      // The broker may wait for the rest of a packet that says it is long: that is its right.
      setTimeout(() => socket.destroy(), 300).unref();
    });
  }
}

interface HttpCase {
  method: string;
  path: string;
  /** Streams answer headers and keep going: read the status, then hang up. */
  stream: boolean;
}

function randomQuery(rng: Rng): string {
  const names = ['cursor', 'limit', 'event_types', 'token', 'last_event_id', 'start', 'end', 'ping_interval', 'wait'];
  const parts: string[] = [];
  for (let i = rng.int(0, 4); i > 0; i--) {
    const name = rng.pick(names) + (rng.chance(0.2) ? '[]' : rng.chance(0.1) ? '[a]' : '');
    const value = name.startsWith('wait') ? String(rng.int(0, 1)) : randomName(rng);
    parts.push(`${encodeURIComponent(name).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(value)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

function randomHttpCase(rng: Rng): HttpCase {
  const type = encodeURIComponent(randomSegment(rng, TYPES));
  const id = encodeURIComponent(randomSegment(rng, IDS));
  const templates: HttpCase[] = [
    { method: 'GET', path: `/iot/poll/${type}/`, stream: false },
    { method: 'GET', path: `/iot/poll/${type}/${id}/`, stream: false },
    { method: 'GET', path: `/iot/stream/${type}/${id}/`, stream: true },
    { method: 'GET', path: `/api/devices`, stream: false },
    { method: 'GET', path: `/api/devices/${type}/${id}`, stream: false },
    { method: 'GET', path: `/api/devices/${type}/${id}/readings`, stream: false },
    { method: 'POST', path: `/api/devices/${type}/${id}/commands`, stream: false },
    { method: 'POST', path: `/admin/broadcast`, stream: false },
    { method: 'POST', path: `/admin/devices/${type}/${id}/credentials`, stream: false },
    { method: 'POST', path: `/admin/gateways`, stream: false },
    { method: 'PUT', path: `/admin/rooms/${id}`, stream: false },
    { method: 'POST', path: `/v1/tokens`, stream: false },
    { method: 'GET', path: `/admin/rejects`, stream: false },
    { method: 'DELETE', path: `/v1/peers/${id}`, stream: false },
    { method: rng.pick(['GET', 'POST', 'PATCH', 'OPTIONS']), path: `/${randomName(rng)}/${id}`, stream: false },
  ];
  const chosen = rng.pick(templates);
  return { ...chosen, path: chosen.path + randomQuery(rng) };
}

function randomBody(rng: Rng): string {
  switch (rng.int(0, 3)) {
    case 0:
      return JSON.stringify({
        command: rng.chance(0.7) ? 'set_interval' : randomValue(rng),
        payload: rng.chance(0.5) ? { interval: rng.pick([60, -1, 'x', 1e308]) } : randomValue(rng),
        timeout: rng.pick([undefined, -1, 'x', 0.5, 1e9]),
      });
    case 1:
      return JSON.stringify({
        device_type: 'fuzz',
        device_id: randomName(rng),
        event_type: 'data',
        data: randomValue(rng),
      });
    case 2:
      return `{"command":"x","payload":${hostileJson(rng)}}`;
    default:
      return randomPayload(rng).toString('latin1');
  }
}

/** Random requests at the REST, admin, poll and stream paths; a finding is no answer or a 5xx. */
export async function fuzzHttp(app: TestApp, rng: Rng, inputs: number, tally: FuzzTally): Promise<void> {
  for (let i = 0; i < inputs; i++) {
    const request = randomHttpCase(rng);
    const headers: Record<string, string> = {};
    const auth = rng.pick(['admin', 'client', 'garbage', 'none', 'cookie'] as const);
    if (auth === 'admin') headers.authorization = `Bearer ${app.adminToken}`;
    if (auth === 'client') headers.authorization = `Bearer ${app.clientToken}`;
    if (auth === 'garbage') headers.authorization = `Bearer ${randomName(rng)}x`;
    if (auth === 'cookie') headers.cookie = `token=${app.clientToken}`;
    headers['content-type'] = rng.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'x/y']);
    headers.accept = rng.pick(['*/*', 'text/event-stream', 'application/x-ndjson', 'application/json', 'x/y']);
    if (rng.chance(0.2)) headers.origin = rng.pick(['https://evil.example', 'null', app.url]);
    const hasBody = request.method !== 'GET' && request.method !== 'OPTIONS';
    const controller = new AbortController();
    const what = `${request.method} ${request.path}`;
    count(tally, 'http');
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await Promise.race([
        fetch(`${app.url}${request.path}`, {
          method: request.method,
          headers,
          body: hasBody ? randomBody(rng) : undefined,
          signal: controller.signal,
        }),
        new Promise<'silent'>((resolve) => (timer = setTimeout(() => resolve('silent'), 10_000))),
      ]);
      if (answer === 'silent') tally.findings.push(`http: no answer in 10 s to ${what}`);
      else if (answer.status >= 500) {
        const text = await answer.text();
        // `GET /` in a checkout whose dashboard is not built: an answer about the checkout, not the input.
        if (!text.includes('"dashboard_not_built"'))
          tally.findings.push(`http: ${answer.status} to ${what}: ${text.slice(0, 200)}`);
      } else if (!request.stream) await answer.arrayBuffer();
    } catch (err) {
      // fetch refuses some header values before sending: not an input the service ever saw.
      // (By name: fetch's TypeError comes from another realm than the test's.)
      if (!((err as Error).name === 'TypeError' && /header|ByteString/i.test(String((err as Error).message)))) {
        if ((err as Error).name !== 'AbortError') tally.findings.push(`http: ${what} failed: ${String(err)}`);
      }
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  }
}

function randomFrame(rng: Rng, kinds: readonly string[]): string | Buffer {
  switch (rng.int(0, 5)) {
    case 0:
      return JSON.stringify({
        action: rng.pick(['ping', 'subscribe', randomName(rng)]),
        ...(randomValue(rng) as object),
      });
    case 1:
      return JSON.stringify({
        type: rng.pick(kinds),
        channel: randomName(rng),
        data: randomValue(rng),
        requestId: randomName(rng),
      });
    case 2:
      return `{"type":"${rng.pick(kinds)}","channel":"things/fuzz/f-1/data","requestId":"r","data":${hostileJson(rng)}}`;
    case 3:
      return randomPayload(rng);
    case 4:
      return hostileJson(rng);
    default:
      return 'x'.repeat(rng.pick([65537, 70000, 10]));
  }
}

/** Opens a WebSocket, sends frames, and watches for what no frame may cause. */
async function fuzzSocket(
  url: string,
  entry: string,
  frames: (string | Buffer)[],
  tally: FuzzTally,
  isFinding: (frame: Record<string, unknown>) => boolean,
): Promise<void> {
  const ws = new WebSocket(url);
  ws.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (data: Buffer) => {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    } catch {
      tally.findings.push(`${entry}: a frame that is not JSON: ${data.toString('utf8').slice(0, 100)}`);
      return;
    }
    if (isFinding(frame)) tally.findings.push(`${entry}: ${JSON.stringify(frame).slice(0, 200)}`);
  });
  const opened = await settled(
    new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('close', () => resolve(false));
    }),
    5000,
  );
  if (opened === undefined) tally.findings.push(`${entry}: no upgrade answer in 5 s`);
  if (opened) {
    for (const frame of frames) {
      count(tally, entry);
      if (ws.readyState !== WebSocket.OPEN) break;
      ws.send(frame);
    }
    // A ping after the frames: if it is answered, every frame before it was handled.
    if (ws.readyState === WebSocket.OPEN) ws.send(entry === 'signalling' ? '{"type":"ping"}' : '{"action":"ping"}');
    const pong = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer) => {
        if (/"(type|event)":"pong"/.test(data.toString('utf8'))) resolve();
      }),
    );
    const outcome = await settled(
      Promise.race([pong.then(() => 'pong'), closed.then((code) => `closed ${code}`)]),
      5000,
    );
    if (outcome === undefined) tally.findings.push(`${entry}: neither a pong nor a close within 5 s`);
  }
  ws.terminate();
  const code = await closed;
  if (code === 1011) tally.findings.push(`${entry}: closed with 1011 (internal error)`);
}

/** Frames on `/ws/iot/…` with random paths and credentials. */
export async function fuzzDeliveryWs(app: TestApp, rng: Rng, inputs: number, tally: FuzzTally): Promise<void> {
  const base = app.url.replace(/^http/, 'ws');
  const path = `/ws/iot/${encodeURIComponent(randomSegment(rng, TYPES))}/${rng.chance(0.5) ? `${encodeURIComponent(randomSegment(rng, IDS))}/` : ''}`;
  const token = rng.chance(0.8) ? app.clientToken : randomName(rng);
  const frames = Array.from({ length: inputs }, () => randomFrame(rng, ['subscribe']));
  await fuzzSocket(`${base}${path}?token=${encodeURIComponent(token)}`, 'ws', frames, tally, () => false);
}

/** Frames on the signalling `/v1` endpoint; an `internal_error` is a finding. */
export async function fuzzSignalling(app: TestApp, rng: Rng, inputs: number, tally: FuzzTally): Promise<void> {
  const base = app.url.replace(/^http/, 'ws');
  const kinds = ['subscribe', 'unsubscribe', 'publish', 'send', 'ping', randomName(rng)];
  const frames = Array.from({ length: inputs }, () => randomFrame(rng, kinds));
  await fuzzSocket(
    `${base}/v1?token=${encodeURIComponent(app.clientToken)}`,
    'signalling',
    frames,
    tally,
    (frame) => frame.type === 'error' && frame.code === 'internal_error',
  );
}

/**
 * socket.io `/iot` events written as raw Engine.IO frames, so that payloads
 * no client library would build (30,000 nested arrays) reach the server.
 */
export async function fuzzSocketIo(app: TestApp, rng: Rng, inputs: number, tally: FuzzTally): Promise<void> {
  const ws = new WebSocket(`${app.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
  ws.on('error', () => undefined);
  const received: string[] = [];
  ws.on('message', (data: Buffer) => {
    const text = data.toString('utf8');
    received.push(text);
    if (text === '2') ws.send('3'); // Engine.IO ping → pong
    if (text.includes('internal_error')) tally.findings.push(`socket.io: ${text.slice(0, 200)}`);
  });
  /** Whether a frame matching arrives within 5 s (waitFor stops polling at its deadline). */
  const seen = (match: (text: string) => boolean): Promise<boolean> =>
    waitFor(() => (received.some(match) ? true : undefined), 'a socket.io frame', 5000).catch(() => false);
  try {
    if (!(await seen((t) => t.startsWith('0{'))))
      return void tally.findings.push('socket.io: no Engine.IO open in 5 s');
    ws.send(`40/iot,${JSON.stringify({ token: app.clientToken })}`);
    if (!(await seen((t) => t.startsWith('40/iot,'))))
      return void tally.findings.push('socket.io: no /iot connect in 5 s');
    for (let i = 0; i < inputs && ws.readyState === WebSocket.OPEN; i++) {
      count(tally, 'socket.io');
      const name = JSON.stringify(rng.pick(['subscribe', 'unsubscribe', rng.pick(HOSTILE_NAMES)]));
      const payload = rng.chance(0.4) ? hostileJson(rng) : JSON.stringify(randomValue(rng) ?? null);
      ws.send(
        rng.chance(0.2)
          ? mutate(rng, Buffer.from(`42/iot,[${name},${payload}]`)).toString('latin1')
          : `42/iot,${i}[${name},${payload}]`,
      );
    }
    if (ws.readyState !== WebSocket.OPEN) return; // the server may cut a client that sends garbage
    // An acknowledged subscribe after the garbage: answered means every frame before it was handled.
    ws.send(`42/iot,999999["subscribe",{"device_type":"fuzz"}]`);
    if (!(await seen((t) => t.startsWith('43/iot,999999'))) && ws.readyState === WebSocket.OPEN)
      tally.findings.push('socket.io: a subscribe after the fuzz frames was never acknowledged');
  } finally {
    ws.terminate();
  }
}

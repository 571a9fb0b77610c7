import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import type { RawClient } from './fixtures/signalling/clients';
import { mint, rawClient, within } from './fixtures/signalling/clients';

/**
 * Raw WebSocket clients (small devices, hand-written clients) sending what
 * the SDK never would. Each bad input shows the error the sender sees, and
 * that the service keeps serving everyone else.
 */
describe('signalling with raw WebSocket clients', () => {
  let app: TestApp;
  let clients: RawClient[] = [];
  let bystander: RawClient;
  let publisher: RawClient;

  beforeAll(async () => {
    app = await bootApp({
      SIGNALLING_KEYS: JSON.stringify({ pk_test_site: { channels: ['**'], origins: ['https://app.example.com'] } }),
    });
  });
  beforeEach(async () => {
    bystander = await connect('bystander');
    bystander.send({ type: 'subscribe', channel: 'news', requestId: 'sub' });
    await bystander.frames.next((f) => f.type === 'presence', 'bystander roster');
    publisher = await connect('publisher');
  });
  afterEach(() => {
    for (const c of clients) c.ws.terminate();
    clients = [];
  });
  afterAll(async () => {
    await app.stop();
  });

  async function connect(peerId: string, query?: string, headers?: Record<string, string>): Promise<RawClient> {
    const client = await rawClient(app, query ?? `token=${mint(app, { peerId })}`, headers);
    clients.push(client);
    return client;
  }

  /** Proves the service still serves others: a publish reaches the bystander. */
  async function othersStillServed(marker: string): Promise<void> {
    publisher.send({ type: 'publish', channel: 'news', data: marker, requestId: `p-${marker}` });
    await bystander.frames.next((f) => f.type === 'message' && f.data === marker, `bystander gets ${marker}`);
  }

  it('sends welcome as the very first frame and answers ping with pong', async () => {
    const c = await connect('first');
    const welcome = await c.frames.next(() => true, 'first frame');
    expect(welcome).toEqual({
      type: 'welcome',
      peerId: 'first',
      expiresAt: expect.any(Number),
      serverTime: expect.any(Number),
      maxMessageSize: 65536,
    });
    c.send({ type: 'ping' });
    await c.frames.next((f) => f.type === 'pong', 'pong');
  });

  it.each([
    ['no credential', ''],
    ['a garbage token', 'token=garbage'],
    ['both a token and a key', 'token=x&key=pk_test_site'],
  ])('closes a connection with %s with 4001 before any frame', async (_what, query) => {
    const c = await connect('unused', query);
    expect(await within(c.closed, 'close')).toMatchObject({ code: 4001 });
    expect(c.frames.items).toEqual([]);
    await othersStillServed(`after-${query}`);
  });

  it('checks a key against the Origin header', async () => {
    const ok = await connect('unused', 'key=pk_test_site', { origin: 'https://app.example.com' });
    expect(await ok.frames.next(() => true, 'welcome')).toMatchObject({ type: 'welcome', expiresAt: null });
    const bad = await connect('unused', 'key=pk_test_site', { origin: 'https://app.example.com.evil.test' });
    expect(await within(bad.closed, 'close')).toEqual({ code: 4001, reason: 'origin not allowed for this key' });
  });

  it.each([
    ['malformed JSON', '{"type": "subscribe", ', { code: 'malformed_message', message: 'frame is not valid JSON' }],
    ['a JSON array', '[1, 2]', { code: 'malformed_message', message: 'frame must be a JSON object' }],
    [
      'no type',
      { channel: 'x', requestId: 'r1' },
      { code: 'malformed_message', requestId: 'r1', message: 'frame has no type' },
    ],
    [
      'an unknown type',
      { type: 'teleport', requestId: 'r2' },
      { code: 'unknown_type', requestId: 'r2', message: 'unknown frame type: teleport' },
    ],
    [
      'a subscribe without channel',
      { type: 'subscribe', requestId: 'r3' },
      { code: 'invalid_channel', requestId: 'r3' },
    ],
    [
      'a subscribe with a numeric channel',
      { type: 'subscribe', channel: 7, requestId: 'r4' },
      { code: 'invalid_channel', requestId: 'r4' },
    ],
    [
      'a channel with control characters',
      { type: 'subscribe', channel: 'a\u0007b', requestId: 'r5' },
      { code: 'invalid_channel', requestId: 'r5' },
    ],
    [
      'an unsubscribe without channel',
      { type: 'unsubscribe', requestId: 'r10' },
      { code: 'invalid_channel', requestId: 'r10' },
    ],
    [
      'a publish without channel',
      { type: 'publish', data: 1, requestId: 'r11' },
      { code: 'invalid_channel', requestId: 'r11' },
    ],
    [
      'a publish without data',
      { type: 'publish', channel: 'news', requestId: 'r6' },
      { code: 'missing_data', requestId: 'r6' },
    ],
    ['a send without to', { type: 'send', data: 1, requestId: 'r7' }, { code: 'invalid_peer_id', requestId: 'r7' }],
    [
      'a send without data',
      { type: 'send', to: 'bystander', requestId: 'r8' },
      { code: 'missing_data', requestId: 'r8' },
    ],
    ['a non-string requestId', { type: 'ping', requestId: 42 }, { code: 'malformed_message' }],
    ['a 129-character requestId', { type: 'ping', requestId: 'r'.repeat(129) }, { code: 'malformed_message' }],
    [
      'a non-boolean includeSenderMetadata',
      { type: 'subscribe', channel: 'x', includeSenderMetadata: 'yes', requestId: 'r9' },
      { code: 'malformed_message', requestId: 'r9' },
    ],
  ])('answers %s with an error frame and stays open', async (what, frame, expected) => {
    const c = await connect(`bad-${what.replace(/\W+/g, '-')}`);
    await c.frames.next((f) => f.type === 'welcome', 'welcome');
    c.send(frame);
    const error = await c.frames.next((f) => f.type === 'error', 'error frame');
    expect(error).toMatchObject({ type: 'error', ...expected });
    if (!('requestId' in expected)) expect(error).not.toHaveProperty('requestId');
    c.send({ type: 'ping' });
    await c.frames.next((f) => f.type === 'pong', 'pong after the error');
    await othersStillServed(`after-${what}`);
  });

  it('answers a binary frame with malformed_message', async () => {
    const c = await connect('binary');
    c.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    expect(await c.frames.next((f) => f.type === 'error', 'error')).toMatchObject({
      code: 'malformed_message',
      message: 'frames must be JSON text',
    });
    c.send({ type: 'ping' });
    await c.frames.next((f) => f.type === 'pong', 'pong');
  });

  it('acks only frames that carry a requestId', async () => {
    const c = await connect('quiet-acks');
    c.send({ type: 'subscribe', channel: 'news' });
    await c.frames.next((f) => f.type === 'presence', 'roster');
    c.send({ type: 'publish', channel: 'news', data: 'no ack wanted' });
    await bystander.frames.next((f) => f.data === 'no ack wanted', 'delivered');
    c.send({ type: 'unsubscribe', channel: 'news', requestId: 'u' });
    await c.frames.next((f) => f.type === 'ack', 'the one ack');
    expect(c.frames.items.filter((f) => f.type === 'ack')).toEqual([{ type: 'ack', requestId: 'u' }]);
  });

  describe('message size', () => {
    it('closes with 1009 on a frame over maxMessageSize', async () => {
      const c = await connect('oversize');
      c.send({ type: 'publish', channel: 'news', data: 'x'.repeat(70_000), requestId: 'big' });
      expect(await within(c.closed, 'close')).toMatchObject({ code: 1009 });
      expect(bystander.frames.items.filter((f) => f.type === 'message')).toEqual([]);
      await othersStillServed('after-oversize');
    });

    // Issue #18, item 7a: within the envelope allowance the size check still comes before every other one.
    it.each([
      ['no type', { channel: 'news', data: 'z'.repeat(66_000), requestId: 'untyped' }],
      ['an unknown type', { type: 'shout', channel: 'news', data: 'z'.repeat(66_000), requestId: 'unknown' }],
      ['no data to measure', { type: 'subscribe', channel: 'news', pad: 'z'.repeat(66_000), requestId: 'sub' }],
    ])('closes with 1009, not an error frame, on a frame over maxMessageSize with %s', async (_what, frame) => {
      const c = await connect('oversize-odd');
      await c.frames.next((f) => f.type === 'welcome', 'welcome');
      const text = JSON.stringify(frame);
      expect(text.length).toBeGreaterThan(65_537);
      expect(text.length).toBeLessThan(65_536 + 2048);
      c.send(text);
      expect(await within(c.closed, 'close')).toMatchObject({ code: 1009 });
      expect(c.frames.items.filter((f) => f.type === 'error')).toEqual([]);
      await othersStillServed(`after-${String(frame.requestId)}`);
    });

    it('measures data, not the envelope, as the SDK does', async () => {
      const c = await connect('edge');
      const exact = 'y'.repeat(65536 - 2);
      // The frame is over 65536 bytes; its data is exactly 65536.
      c.send({ type: 'publish', channel: 'news', data: exact, requestId: 'edge' });
      await c.frames.next((f) => f.type === 'ack', 'ack');
      await bystander.frames.next((f) => f.data === exact, 'edge-sized message');
      c.send({ type: 'publish', channel: 'news', data: `${exact}y`, requestId: 'over' });
      expect(await within(c.closed, 'close')).toMatchObject({ code: 1009 });
    });
  });

  it('closes a flood with 4011 and keeps serving others', async () => {
    const c = await connect('flood');
    await c.frames.next((f) => f.type === 'welcome', 'welcome');
    for (let i = 0; i < 260; i++) c.send({ type: 'ping' });
    expect(await within(c.closed, 'close')).toEqual({ code: 4011, reason: 'over the message rate' });
    // The burst allowance is 200 frames: no more than that were answered.
    const pongs = c.frames.items.filter((f) => f.type === 'pong').length;
    expect(pongs).toBeGreaterThanOrEqual(199);
    expect(pongs).toBeLessThanOrEqual(201);
    await othersStillServed('after-flood');
  });
});

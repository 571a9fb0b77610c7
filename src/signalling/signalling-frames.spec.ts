import type { Writable } from 'node:stream';
import WebSocket from 'ws';
import { OutboundFrame, encodeFrame, encodeMessage, parseClientFrame } from './signalling-frames';

/** `ws`'s frame parser: exported at runtime, not in its type definitions. */
const { Receiver } = WebSocket as unknown as { Receiver: new (options: { isServer: boolean }) => Writable };

/** Decodes server frames as a client would, with `ws`'s own parser. */
function decode(wire: Buffer): string[] {
  const messages: string[] = [];
  const receiver = new Receiver({ isServer: false });
  receiver.on('message', (data: Buffer, isBinary: boolean) =>
    messages.push(`${isBinary ? 'binary' : 'text'}:${data.toString('utf8')}`),
  );
  receiver.write(wire);
  return messages;
}

describe('signalling frames', () => {
  it.each([10, 125, 126, 65535, 65536, 200_000])('frames a %i-byte payload as one unmasked text frame', (size) => {
    const json = `"${'x'.repeat(size - 2)}"`;
    const frame = new OutboundFrame(Buffer.from(json));
    expect(decode(frame.wire)).toEqual([`text:${json}`]);
    // Built once and shared by every recipient.
    expect(frame.wire).toBe(frame.wire);
  });

  it('encodes server frames as JSON', () => {
    expect(JSON.parse(encodeFrame({ type: 'ack', requestId: 'r' }).json.toString('utf8'))).toEqual({
      type: 'ack',
      requestId: 'r',
    });
    expect(JSON.parse(encodeMessage('a/b', 'p1', '{"x":1}', '{"name":"P"}').json.toString('utf8'))).toEqual({
      type: 'message',
      channel: 'a/b',
      from: 'p1',
      data: { x: 1 },
      fromMetadata: { name: 'P' },
    });
  });

  it('reads client frames and keeps null data apart from missing data', () => {
    expect(parseClientFrame('{"type":"publish","channel":"a","data":null,"requestId":"r"}')).toEqual({
      type: 'publish',
      channel: 'a',
      data: null,
      hasData: true,
      requestId: 'r',
    });
    expect(parseClientFrame('{"type":"publish","channel":"a"}')).toMatchObject({ hasData: false });
    expect(parseClientFrame('{"type":"subscribe","channel":"a"}')).toEqual({
      type: 'subscribe',
      channel: 'a',
      requestId: undefined,
      includeSenderMetadata: false,
    });
    expect(() => parseClientFrame('{"type":"nope","requestId":"r"}')).toThrow(
      expect.objectContaining({ code: 'unknown_type', requestId: 'r' }),
    );
  });
});

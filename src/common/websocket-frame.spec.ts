import { textFrame } from './websocket-frame';

describe('textFrame', () => {
  it.each([
    ['short', '{"a":1}'],
    ['multi-byte text at the 126-byte length boundary', `{"t":"${'é'.repeat(60)}"}`],
    ['a 16-bit length', JSON.stringify({ pad: 'x'.repeat(70_000 - 12) }).slice(0, 65_000)],
    ['a 64-bit length', 'y'.repeat(70_000)],
  ])('frames %s the same from a string as from its UTF-8 bytes', (_, text) => {
    const fromString = textFrame(text);
    expect(fromString.equals(textFrame(Buffer.from(text)))).toBe(true);
    expect(fromString[0]).toBe(0x81);
    const bytes = Buffer.byteLength(text);
    const header = bytes < 126 ? 2 : bytes < 65536 ? 4 : 10;
    expect(fromString.length).toBe(header + bytes);
    expect(fromString.subarray(header).toString('utf8')).toBe(text);
  });
});

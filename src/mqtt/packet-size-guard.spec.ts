import { PassThrough } from 'node:stream';
import { guardPacketSize } from './packet-size-guard';

/** A stream read the way aedes reads it: `read()` on `readable`. */
function guarded(max: number): { conn: PassThrough; read: Buffer[]; refused: number[] } {
  const conn = new PassThrough();
  const read: Buffer[] = [];
  conn.on('readable', () => {
    let chunk: Buffer | null;
    while ((chunk = conn.read() as Buffer | null) !== null) read.push(chunk);
  });
  const refused: number[] = [];
  guardPacketSize(conn, max, (length) => refused.push(length));
  return { conn, read, refused };
}

/** A PUBLISH-like packet: type byte, remaining length, body. */
function packet(bodyLength: number): Buffer {
  const length: number[] = [];
  let n = bodyLength;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x30, ...length]), Buffer.alloc(bodyLength, 0x61)]);
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('guardPacketSize', () => {
  it('lets packets up to the limit through, whole or split anywhere, and hands the reader every byte', async () => {
    const { conn, read, refused } = guarded(200);
    const bytes = Buffer.concat([packet(0), packet(127), packet(128), packet(200), packet(5)]);
    for (let i = 0; i < bytes.length; i += 7) conn.write(bytes.subarray(i, i + 7));
    await tick();
    expect(refused).toEqual([]);
    expect(conn.destroyed).toBe(false);
    expect(Buffer.concat(read)).toEqual(bytes);
  });

  it('destroys the connection at the header of a packet longer than the limit, before its body arrives', async () => {
    const { conn, refused } = guarded(200);
    conn.write(packet(10));
    // 256 MB announced in four length bytes, split between writes; no body follows.
    conn.write(Buffer.from([0x30, 0xff, 0xff]));
    await tick();
    expect(refused).toEqual([]);
    conn.write(Buffer.from([0xff, 0x7f]));
    await tick();
    expect(refused).toEqual([268_435_455]);
    expect(conn.destroyed).toBe(true);
  });

  it('counts a length of 201 over a limit of 200 (one byte too many)', async () => {
    const { conn, refused } = guarded(200);
    conn.write(packet(201).subarray(0, 3));
    await tick();
    expect(refused).toEqual([201]);
  });
});

import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * The unmasked, unfragmented text frame a server sends (RFC 6455, section
 * 5.2). Fan-out builds it once per message and writes the same buffer to
 * every recipient's socket, instead of letting `ws` frame it once per socket.
 */
export function textFrame(payload: Buffer | string): Buffer {
  // A string is encoded straight into the frame: one buffer per event, not a payload buffer and then the frame.
  const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN, text
  if (length < 126) frame[1] = length;
  else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  if (typeof payload === 'string') frame.write(payload, header);
  else payload.copy(frame, header);
  return frame;
}

/**
 * Writes complete, pre-encoded frames (`textFrame`) to an upgraded socket
 * as they are, so fan-out costs one write of one shared buffer per
 * recipient and no per-recipient framing; corked for the rest of the tick,
 * so a batch leaves in one write. `ws` still owns reading, pings and the
 * close handshake: without permessage-deflate it writes its own frames
 * synchronously to the same socket, so frames never interleave, and
 * nothing is written once it is closing.
 */
export class PreEncodedWriter {
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.raw.uncork();
  };

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded socket under `ws` (the upgrade request's socket). */
    private readonly raw: Duplex,
  ) {}

  write(frame: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (!this.corked) {
      this.corked = true;
      this.raw.cork();
      process.nextTick(this.uncork);
    }
    this.raw.write(frame);
  }
}

/**
 * Shutdown of a WebSocket endpoint, after each connection was told to go
 * (close code 1001): waits up to `waitMs` for the close handshakes, then
 * drops what is left, so upgraded sockets do not hold the HTTP server open.
 */
export async function closeWithin(sockets: Iterable<WebSocket>, waitMs: number): Promise<void> {
  const open = [...sockets];
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(
      open.map(
        (ws) => new Promise<void>((done) => (ws.readyState === ws.CLOSED ? done() : ws.once('close', () => done()))),
      ),
    ),
    new Promise<void>((done) => (timer = setTimeout(done, waitMs))),
  ]);
  clearTimeout(timer);
  for (const ws of open) if (ws.readyState !== ws.CLOSED) ws.terminate();
}

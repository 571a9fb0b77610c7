import type { Duplex } from 'node:stream';

/**
 * The embedded broker's bound on one MQTT packet (issue #18). aedes has none:
 * its parser keeps every byte of a packet until the packet is complete, so
 * one client announcing a 256 MB PUBLISH (or CONNECT, before any
 * authentication) and streaming it held that much memory. This reads the
 * fixed header of each packet as the bytes go by (MQTT 3.1.1 2.2: one type
 * byte, then the remaining length in 1 to 4 bytes of 7 bits) and destroys the
 * connection as soon as a packet says it is longer than `maxBytes`.
 *
 * It listens to `data` beside aedes' `readable` listener: with both, Node
 * emits `data` for exactly the chunks aedes reads, before aedes parses them,
 * and leaves the flow to aedes. So it must be attached after `broker.handle`.
 */
export function guardPacketSize(conn: Duplex, maxBytes: number, onRefused: (length: number) => void): void {
  /** Bytes of the current packet's body still to skip; -1 while reading a fixed header. */
  let toSkip = -1;
  /** Remaining length read so far, and how many of its bytes. */
  let length = 0;
  let lengthBytes = 0;
  let inHeader = false;
  const refuse = (announced: number): void => {
    conn.removeListener('data', onData);
    onRefused(announced);
    conn.destroy();
  };
  const onData = (chunk: Buffer): void => {
    let i = 0;
    while (i < chunk.length) {
      if (toSkip > 0) {
        const skipped = Math.min(toSkip, chunk.length - i);
        toSkip -= skipped;
        i += skipped;
        continue;
      }
      if (!inHeader) {
        // The packet type byte.
        inHeader = true;
        length = 0;
        lengthBytes = 0;
        i++;
        continue;
      }
      const byte = chunk[i++];
      length += (byte & 0x7f) * 128 ** lengthBytes++;
      // aedes' parser refuses a fifth length byte itself (malformed); stop looking then.
      if (byte & 0x80 && lengthBytes < 4) continue;
      if (byte & 0x80) return void conn.removeListener('data', onData);
      if (length > maxBytes) return refuse(length);
      inHeader = false;
      toSkip = length;
    }
  };
  conn.on('data', onData);
}

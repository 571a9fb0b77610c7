import type { Client, PublishPacket } from 'aedes';
import type { CommitAcks } from './commit-acks';
import type { InFlightWindow } from './in-flight-window';
import type { InboundMessage } from './mqtt-transport';

/** The part of aedes' persistence that knows QoS 2 messages awaiting PUBREL. */
export interface IncomingStore {
  incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown>;
}

export type Ingest = (message: InboundMessage, done: () => void) => void;

/** What the embedded broker hands over for each device message it ingests. */
export interface EmbeddedIngest {
  acks: CommitAcks<object>;
  window: InFlightWindow;
  store: IncomingStore;
  ingest: Ingest;
}

/**
 * One device message the broker authorised, into ingestion, acknowledged
 * by its QoS (issue #11):
 * - QoS 0: fire and forget, the reader goes on while the window has room;
 * - QoS 1: the PUBACK is written once the event is committed (writePuback),
 *   and the reader goes on meanwhile;
 * - QoS 2: aedes' `done` (it then stores the message and writes the PUBREC)
 *   waits for the commit, and so does this connection's reader.
 */
export function ingestPublish(
  into: EmbeddedIngest,
  client: Client,
  packet: PublishPacket,
  message: InboundMessage,
  done: (error: Error | null) => void,
): void {
  const { acks, window, ingest } = into;
  if (packet.qos === 0) {
    ingest(message, window.enter());
    return window.proceed(() => done(null));
  }
  if (packet.qos === 1) {
    // aedes writes a QoS 1 message's PUBACK as soon as `done` is called, and takes the next packet only
    // after that. So it gets the message as QoS 0 (no PUBACK; subscribers other than the bridge get it at
    // QoS 0), the reader goes on, and the PUBACK is written here once the event is committed.
    const messageId = packet.messageId ?? 0;
    packet.qos = 0;
    const committed = acks.afterCommit({}, () => writePuback(client, messageId));
    const out = window.enter();
    ingest(message, () => {
      out();
      committed();
    });
    return window.proceed(() => done(null));
  }
  const afterCommit = (): void => ingest(message, acks.afterCommit({}, () => done(null)));
  // A QoS 2 message sent again before its PUBREL: aedes answers it from its store if it has it.
  if (packet.dup) void into.store.incomingGetPacket(client, packet).then(() => done(null), afterCommit);
  else afterCommit();
}

/**
 * PUBACK (MQTT 3.1.1 3.4): on the connection the message came by, if it is
 * still there. A commit acknowledges its whole batch at once, several
 * messages of each connection among them: the connection is corked until
 * the commit's callbacks are done, so they leave in one write per
 * connection, not one per message.
 */
function writePuback(client: Client, messageId: number): void {
  const conn = client.conn;
  if (!client.connected || conn.destroyed) return; // the sender sends it again on its next connection
  if (conn.writableCorked === 0) {
    conn.cork();
    process.nextTick(uncork, conn);
  }
  conn.write(Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]));
}

const uncork = (conn: Client['conn']): void => {
  conn.uncork();
};

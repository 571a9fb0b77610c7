import type { PeerInfo } from './peer-info';

/**
 * What signalling instances say to each other on Redis (docs/architecture.md,
 * "Signalling across instances"). A message is one JSON header line naming
 * its kind (`t`) and sender (`i`), then, for some kinds, raw JSON lines
 * passed through untouched (a publish's data, an encoded frame), so relaying
 * never parses and re-serialises what clients sent. JSON.stringify never
 * writes a raw newline, so `\n` separates the parts safely.
 */

/** Presence deltas: numbered per sender (`s`) so a lost one is noticed and the sender's state asked for. */
export type DeltaHeader =
  | { t: 'on'; i: string; s: number; p: string }
  | { t: 'off'; i: string; s: number; p: string }
  | { t: 'join'; i: string; s: number; c: string; p: string; m?: Record<string, unknown> }
  | { t: 'leave'; i: string; s: number; c: string; p: string };

export type RelayHeader =
  | DeltaHeader
  /** Every second: alive, and the number of the last delta sent. */
  | { t: 'hb'; i: string; s: number }
  /** Started or reconnected: everyone send me your state (and ask for mine if yours is behind). */
  | { t: 'hello'; i: string; s: number }
  /** To one instance: send me your state. */
  | { t: 'sync'; i: string }
  /** A sender's whole state as of delta `s`; body: a Snapshot. */
  | { t: 'state'; i: string; s: number }
  /** Shutting down: forget my peers now. */
  | { t: 'bye'; i: string }
  /** A client publish; body: data JSON, then the sender's metadata JSON when it has some. */
  | { t: 'msg'; i: string; c: string; f: string }
  /** To one instance: a direct frame for peer `p`; body: the encoded frame. */
  | { t: 'dm'; i: string; p: string }
  /** To one instance: a request (`r` its id) for its peers, or to kick peer `p`. */
  | { t: 'ask'; i: string; r: string; q: 'peers' }
  | { t: 'ask'; i: string; r: string; q: 'kick'; p: string }
  /** The answer to request `r`; body: its JSON. */
  | { t: 'ans'; i: string; r: string }
  /** An admin room binding changed. */
  | { t: 'room'; i: string; room: string };

/** One instance's peers: id, public metadata, and the channel strings it is subscribed to. */
export type Snapshot = [peerId: string, metadata: Record<string, unknown> | null, channels: string[]][];

export interface RelayMessage {
  header: RelayHeader;
  body: string[];
}

const KINDS = new Set([
  'on',
  'off',
  'join',
  'leave',
  'hb',
  'hello',
  'sync',
  'state',
  'bye',
  'msg',
  'dm',
  'ask',
  'ans',
  'room',
]);

export function encodeRelay(header: RelayHeader, ...body: string[]): string {
  return body.length === 0 ? JSON.stringify(header) : `${JSON.stringify(header)}\n${body.join('\n')}`;
}

/** Undefined for what no instance of this version sent (another version, garbage). */
export function decodeRelay(raw: Buffer): RelayMessage | undefined {
  const parts = raw.toString('utf8').split('\n');
  let header: unknown;
  try {
    header = JSON.parse(parts[0]);
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null) return undefined;
  const { t, i } = header as { t?: unknown; i?: unknown };
  if (typeof t !== 'string' || !KINDS.has(t) || typeof i !== 'string') return undefined;
  return { header: header as RelayHeader, body: parts.slice(1) };
}

/** One snapshot entry per peer id, its connections' subscriptions merged. */
export function snapshotOf(peers: readonly PeerInfo[]): Snapshot {
  const byPeer = new Map<string, { metadata: Record<string, unknown> | null; channels: Set<string> }>();
  for (const info of peers) {
    let entry = byPeer.get(info.peerId);
    if (!entry) byPeer.set(info.peerId, (entry = { metadata: info.metadata ?? null, channels: new Set() }));
    for (const channel of info.subscriptions) entry.channels.add(channel);
  }
  return [...byPeer].map(([peerId, e]) => [peerId, e.metadata, [...e.channels]]);
}

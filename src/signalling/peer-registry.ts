import type { SignallingPeer } from './signalling-peer';

/**
 * The open connections of this instance by peer id (several may share one:
 * the same token twice), and how many each publishable key holds (its
 * concurrent connection limit).
 */
export class PeerRegistry {
  private readonly byPeerId = new Map<string, Set<SignallingPeer>>();
  private readonly perKey = new Map<string, number>();

  /** The connections of a peer id here; undefined when it has none. */
  connectionsOf(peerId: string): ReadonlySet<SignallingPeer> | undefined {
    return this.byPeerId.get(peerId);
  }

  /** Distinct peer ids connected here. */
  get size(): number {
    return this.byPeerId.size;
  }

  /** Connections holding this key. */
  keyCount(key: string): number {
    return this.perKey.get(key) ?? 0;
  }

  /** Adds a connection; true when it is its peer id's first here. */
  add(peer: SignallingPeer): boolean {
    const key = peer.identity.key;
    if (key !== undefined) this.perKey.set(key, this.keyCount(key) + 1);
    const same = this.byPeerId.get(peer.peerId);
    if (same) {
      same.add(peer);
      return false;
    }
    this.byPeerId.set(peer.peerId, new Set([peer]));
    return true;
  }

  /** Removes a connection: `undefined` when it was not here, else whether it was its peer id's last. */
  remove(peer: SignallingPeer): boolean | undefined {
    const same = this.byPeerId.get(peer.peerId);
    if (!same?.delete(peer)) return undefined;
    const key = peer.identity.key;
    if (key !== undefined) {
      const left = this.keyCount(key) - 1;
      if (left > 0) this.perKey.set(key, left);
      else this.perKey.delete(key);
    }
    if (same.size > 0) return false;
    this.byPeerId.delete(peer.peerId);
    return true;
  }

  *all(): IterableIterator<SignallingPeer> {
    for (const same of this.byPeerId.values()) yield* same;
  }
}

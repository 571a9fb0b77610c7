import type { PresencePeer } from './signalling-frames';
import type { RemotePresenceChange } from './signalling-relay';
import type { Snapshot } from './relay-envelope';

interface RemotePeer {
  metadata?: Record<string, unknown>;
  channels: Set<string>;
}

interface ChannelEntry {
  peer: PresencePeer;
  /** Other instances on which this peer id is subscribed to the channel. */
  instances: number;
}

/**
 * The peers of the other instances as this one has heard of them: who is
 * connected where, and who is subscribed to which channel string. Every
 * change reports the presence changes it makes for the other instances
 * taken together (a peer id first seen on a channel anywhere else, or gone
 * from it everywhere else); whether that is news here is ChannelMembers'
 * call, which knows the local subscribers.
 */
export class RemotePeers {
  private readonly instances = new Map<string, Map<string, RemotePeer>>();
  private readonly byChannel = new Map<string, Map<string, ChannelEntry>>();
  /** Peer id to the number of other instances it is connected to. */
  private readonly online = new Map<string, number>();

  roster(channel: string): Iterable<PresencePeer> {
    const entries = this.byChannel.get(channel);
    return entries === undefined ? [] : [...entries.values()].map((e) => e.peer);
  }

  has(channel: string, peerId: string): boolean {
    return this.byChannel.get(channel)?.has(peerId) === true;
  }

  connected(peerId: string): boolean {
    return this.online.has(peerId);
  }

  /** The instances on which a peer id has a connection. */
  instancesWith(peerId: string): string[] {
    const found: string[] = [];
    if (!this.online.has(peerId)) return found;
    for (const [instance, peers] of this.instances) if (peers.has(peerId)) found.push(instance);
    return found;
  }

  peerOnline(instance: string, peerId: string): RemotePeer {
    let peers = this.instances.get(instance);
    if (!peers) this.instances.set(instance, (peers = new Map<string, RemotePeer>()));
    let peer = peers.get(peerId);
    if (!peer) {
      peers.set(peerId, (peer = { channels: new Set() }));
      this.online.set(peerId, (this.online.get(peerId) ?? 0) + 1);
    }
    return peer;
  }

  peerOffline(instance: string, peerId: string, changes: RemotePresenceChange[]): void {
    const peers = this.instances.get(instance);
    const peer = peers?.get(peerId);
    if (!peers || !peer) return;
    for (const channel of [...peer.channels]) this.leave(instance, channel, peerId, changes);
    peers.delete(peerId);
    const count = (this.online.get(peerId) ?? 1) - 1;
    if (count > 0) this.online.set(peerId, count);
    else this.online.delete(peerId);
  }

  join(instance: string, channel: string, who: PresencePeer, changes: RemotePresenceChange[]): void {
    const peer = this.peerOnline(instance, who.peerId);
    if (who.metadata !== undefined) peer.metadata = who.metadata;
    if (peer.channels.has(channel)) return;
    peer.channels.add(channel);
    let entries = this.byChannel.get(channel);
    if (!entries) this.byChannel.set(channel, (entries = new Map<string, ChannelEntry>()));
    const entry = entries.get(who.peerId);
    if (entry) return void entry.instances++;
    entries.set(who.peerId, { peer: who, instances: 1 });
    changes.push({ channel, peer: who, change: 'joined' });
  }

  leave(instance: string, channel: string, peerId: string, changes: RemotePresenceChange[]): void {
    if (this.instances.get(instance)?.get(peerId)?.channels.delete(channel) !== true) return;
    const entries = this.byChannel.get(channel);
    const entry = entries?.get(peerId);
    if (!entries || !entry) return;
    if (--entry.instances > 0) return;
    entries.delete(peerId);
    if (entries.size === 0) this.byChannel.delete(channel);
    changes.push({ channel, peer: entry.peer, change: 'left' });
  }

  /** An instance's whole state replaces what was known of it. */
  replace(instance: string, snapshot: Snapshot, changes: RemotePresenceChange[]): void {
    const next = new Map(snapshot.map(([peerId, metadata, channels]) => [peerId, { metadata, channels }]));
    for (const [peerId, peer] of this.instances.get(instance) ?? []) {
      const kept = next.get(peerId);
      if (!kept) {
        this.peerOffline(instance, peerId, changes);
        continue;
      }
      const channels = new Set(kept.channels);
      for (const channel of [...peer.channels])
        if (!channels.has(channel)) this.leave(instance, channel, peerId, changes);
    }
    for (const [peerId, { metadata, channels }] of next) {
      this.peerOnline(instance, peerId);
      const who: PresencePeer = metadata === null ? { peerId } : { peerId, metadata };
      for (const channel of channels) this.join(instance, channel, who, changes);
    }
  }

  /** An instance gone (killed, or shut down): its peers leave. */
  drop(instance: string, changes: RemotePresenceChange[]): void {
    for (const peerId of [...(this.instances.get(instance)?.keys() ?? [])]) this.peerOffline(instance, peerId, changes);
    this.instances.delete(instance);
  }
}

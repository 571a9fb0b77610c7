import type { OutboundFrame, PresencePeer } from './signalling-frames';
import { encodeFrame } from './signalling-frames';
import type { SignallingPeer, SubscriptionOptions } from './signalling-peer';
import type { RemotePresenceChange, SignallingRelay } from './signalling-relay';
import { SubscriptionIndex } from './subscription-index';

/**
 * Who is subscribed to what (signalling-protocol.md, "Semantics"): the
 * subscription index, presence rosters and deltas, and message fan-out.
 * Presence is per subscription string and per peer id across the cluster: a
 * peer with two connections on a channel (here, or here and on another
 * instance) joins once and leaves with its last one. The relay tells the
 * other instances of changes here and knows who is subscribed there.
 */
export class ChannelMembers {
  private readonly index = new SubscriptionIndex<SignallingPeer, SubscriptionOptions>();

  constructor(
    /** Every open connection with a peer id. */
    private readonly connectionsOf: (peerId: string) => Iterable<SignallingPeer>,
    private readonly relay: SignallingRelay,
  ) {}

  /** Subscribes (or re-subscribes with new options); tells the others when the peer id is new there. */
  subscribe(peer: SignallingPeer, channel: string, options: SubscriptionOptions): void {
    const newHere = !peer.subscriptions.has(channel) && !this.otherConnectionOn(peer, channel);
    peer.subscriptions.set(channel, options);
    this.index.add(channel, peer, options);
    if (!newHere) return;
    const who = presencePeer(peer);
    this.relay.joined(channel, who);
    if (!this.relay.presentElsewhere(channel, peer.peerId)) this.announce(channel, who, 'joined');
  }

  unsubscribe(peer: SignallingPeer, channel: string): void {
    if (!peer.subscriptions.delete(channel)) return;
    this.index.remove(channel, peer);
    if (this.otherConnectionOn(peer, channel)) return;
    this.relay.left(channel, peer.peerId);
    if (!this.relay.presentElsewhere(channel, peer.peerId)) this.announce(channel, presencePeer(peer), 'left');
  }

  /** A peer id appeared on or vanished from a channel elsewhere: news here unless it is also subscribed here. */
  remoteChange({ channel, peer, change }: RemotePresenceChange): void {
    for (const connection of this.connectionsOf(peer.peerId)) if (connection.subscriptions.has(channel)) return;
    this.announce(channel, peer, change);
  }

  /** Everyone subscribed to this exact channel string, here or elsewhere, one entry per peer id, but `self`. */
  roster(channel: string, self: string): PresencePeer[] {
    const seen = new Map<string, PresencePeer>();
    for (const other of this.index.subscribers(channel)?.keys() ?? []) {
      if (other.peerId === self || seen.has(other.peerId)) continue;
      seen.set(other.peerId, presencePeer(other));
    }
    for (const other of this.relay.remoteRoster(channel)) {
      if (other.peerId !== self && !seen.has(other.peerId)) seen.set(other.peerId, other);
    }
    return [...seen.values()];
  }

  /**
   * Sends one message to every connection subscribed to a pattern matching
   * the channel: once per connection even when several of its patterns
   * match, never to the publisher's own peer id. Frames are built lazily
   * and at most once per variant (with and without `fromMetadata`).
   * Returns the number of deliveries.
   */
  deliver(channel: string, from: string, plain: () => OutboundFrame, withMeta?: () => OutboundFrame): number {
    let first: ReadonlyMap<SignallingPeer, SubscriptionOptions> | undefined;
    let merged: Map<SignallingPeer, boolean> | undefined;
    this.index.match(channel, (entry) => {
      if (!first) return void (first = entry.subscribers);
      if (!merged) {
        merged = new Map();
        for (const [peer, opts] of first) merged.set(peer, opts.includeSenderMetadata);
      }
      for (const [peer, opts] of entry.subscribers)
        merged.set(peer, merged.get(peer) === true || opts.includeSenderMetadata);
    });
    if (!first) return 0;
    let plainFrame: OutboundFrame | undefined;
    let metaFrame: OutboundFrame | undefined;
    let delivered = 0;
    const sendTo = (peer: SignallingPeer, meta: boolean): void => {
      if (peer.peerId === from) return;
      if (meta && withMeta) peer.send((metaFrame ??= withMeta()));
      else peer.send((plainFrame ??= plain()));
      delivered++;
    };
    if (merged) for (const [peer, meta] of merged) sendTo(peer, meta);
    else for (const [peer, opts] of first) sendTo(peer, opts.includeSenderMetadata);
    return delivered;
  }

  private otherConnectionOn(peer: SignallingPeer, channel: string): boolean {
    for (const other of this.connectionsOf(peer.peerId))
      if (other !== peer && other.subscriptions.has(channel)) return true;
    return false;
  }

  /** Tells the channel's other subscribers here (those with `presence`) that a peer joined or left. */
  private announce(channel: string, peer: PresencePeer, change: 'joined' | 'left'): void {
    const subscribers = this.index.subscribers(channel);
    if (!subscribers) return;
    let frame: OutboundFrame | undefined;
    for (const other of subscribers.keys()) {
      if (other.peerId === peer.peerId || !other.can('presence')) continue;
      const who = [peer];
      frame ??= encodeFrame({
        type: 'presence',
        channel,
        joined: change === 'joined' ? who : [],
        left: change === 'left' ? who : [],
      });
      other.send(frame);
    }
  }
}

function presencePeer(peer: SignallingPeer): PresencePeer {
  const metadata = peer.identity.peerMetadata;
  return metadata === undefined ? { peerId: peer.peerId } : { peerId: peer.peerId, metadata };
}

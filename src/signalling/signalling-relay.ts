import type { OutboundFrame, PresencePeer } from './signalling-frames';
import type { PeerInfo } from './peer-info';

/** Injection token of the SignallingRelay this instance uses. */
export const SIGNALLING_RELAY = Symbol('SIGNALLING_RELAY');

/** A presence change on another instance that this instance's subscribers may need to hear of. */
export interface RemotePresenceChange {
  channel: string;
  peer: PresencePeer;
  change: 'joined' | 'left';
}

/** What the relay asks of this instance's signalling core when another instance speaks. */
export interface RelayedSide {
  /** A channel message published on another instance: deliver it to the subscribers here. */
  deliver(channel: string, from: string, dataJson: string, fromMetadataJson: string | undefined): void;
  /** A direct frame (already encoded) for the connections of `to` here. */
  direct(to: string, frameJson: string): void;
  /** A peer id appeared on or vanished from a channel on the other instances taken together. */
  presence(change: RemotePresenceChange): void;
  /** The peers connected here, for `GET /admin/peers` asked on another instance. */
  localPeers(): PeerInfo[];
  /** Closes the connections of a peer id here with 4020; how many. */
  kickLocal(peerId: string): number;
}

/**
 * How signalling spans instances (issue #5): the presence and connections of
 * the other instances as this one knows them, and the messages it hands them.
 * Two implementations: `LocalSignallingRelay` (no REDIS_URL: there are no
 * other instances) and `RedisSignallingRelay`. The device mirror is never
 * relayed: every instance gets every device event from the bus itself.
 */
export interface SignallingRelay {
  /** Called once by the hub, which is what inbound messages are handed to. */
  attach(side: RelayedSide): void;
  /** Peers subscribed to this exact channel string on other instances. */
  remoteRoster(channel: string): Iterable<PresencePeer>;
  /** Whether the peer id is subscribed to this exact channel string on another instance. */
  presentElsewhere(channel: string, peerId: string): boolean;
  /** Whether the peer id has a connection on another instance. */
  connectedElsewhere(peerId: string): boolean;
  /** False while the other instances cannot be reached (Redis down). */
  readonly reachable: boolean;

  /** The first connection of a peer id here opened, or its last one closed. */
  peerOnline(peerId: string): void;
  peerOffline(peerId: string): void;
  /** A peer id joined (first connection here) or left (last one here) a channel. */
  joined(channel: string, peer: PresencePeer): void;
  left(channel: string, peerId: string): void;
  /** A client's channel publish, for the subscribers on other instances. */
  publish(channel: string, from: string, dataJson: string, fromMetadataJson: string | undefined): void;
  /** A direct frame for the connections of `to` on other instances. */
  direct(to: string, frame: OutboundFrame): void;
  /** The peers of the other instances. */
  peers(): Promise<PeerInfo[]>;
  /** Disconnects a peer id on the other instances (4020); how many connections. */
  kick(peerId: string): Promise<number>;
  /** An admin room binding was made or removed here. */
  roomChanged(room: string): void;
  /** One made on another instance (`undefined`: any may have been, as after a Redis outage). */
  onRoomChanged(listener: (room: string | undefined) => void): void;
}

const NONE: readonly PresencePeer[] = [];

/** One instance: nobody else to tell, nothing known elsewhere. */
export class LocalSignallingRelay implements SignallingRelay {
  readonly reachable = true;
  attach(): void {}
  remoteRoster(): Iterable<PresencePeer> {
    return NONE;
  }
  presentElsewhere(): boolean {
    return false;
  }
  connectedElsewhere(): boolean {
    return false;
  }
  peerOnline(): void {}
  peerOffline(): void {}
  joined(): void {}
  left(): void {}
  publish(): void {}
  direct(): void {}
  peers(): Promise<PeerInfo[]> {
    return Promise.resolve([]);
  }
  kick(): Promise<number> {
    return Promise.resolve(0);
  }
  roomChanged(): void {}
  onRoomChanged(): void {}
}

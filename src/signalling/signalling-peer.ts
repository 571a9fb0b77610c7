import type { ChannelMatcher } from '../auth/channel-pattern';
import type { DeviceRole, Permission } from '../auth/token.service';
import type { MessageQuota } from './connection-limits';
import type { CloseCode, OutboundFrame, ServerFrame } from './signalling-frames';
import { SignallingError, encodeFrame } from './signalling-frames';

/** The socket a peer talks through; the gateway adapts a `ws` WebSocket to it. */
export interface PeerSocket {
  /** One text frame, already encoded (and shared with other recipients). */
  send(frame: OutboundFrame): void;
  close(code: number, reason: string): void;
  /** Bytes queued for sending and not yet taken by the network. */
  readonly bufferedAmount: number;
}

/** Who a connection is, from its JWT or publishable key. */
export interface PeerIdentity {
  peerId: string;
  /** Unix seconds; null for publishable keys. */
  expiresAt: number | null;
  /** The `channels` claim (or the key's patterns). */
  channels: readonly string[];
  matcher: ChannelMatcher;
  permissions: ReadonlySet<Permission>;
  /** Private, echoed once in `welcome.metadata`. */
  metadata?: Record<string, unknown>;
  /** Public: presence, direct messages, and channel messages for opted-in subscribers. */
  peerMetadata?: Record<string, unknown>;
  /** The publishable key it connected with, if any. */
  key?: string;
  /** That key's message quota, shared by all its connections. */
  quota?: MessageQuota;
  /** A device's or gateway's token (issue #15): publishes device messages, subscribes to commands. */
  role?: DeviceRole;
}

export interface SubscriptionOptions {
  includeSenderMetadata: boolean;
}

/** One signalling connection. Several may share a peer id (the same token twice). */
export class SignallingPeer {
  readonly subscriptions = new Map<string, SubscriptionOptions>();
  readonly connectedAt = Date.now();
  /** `peerMetadata` serialised once, for `fromMetadata`. */
  readonly peerMetadataJson: string | undefined;
  private closed = false;

  constructor(
    readonly identity: PeerIdentity,
    private readonly socket: PeerSocket,
    /** Unsent bytes past which the peer is a slow consumer and is dropped. */
    private readonly sendBufferLimit: number,
    readonly remoteAddress?: string,
  ) {
    this.peerMetadataJson = identity.peerMetadata === undefined ? undefined : JSON.stringify(identity.peerMetadata);
  }

  get peerId(): string {
    return this.identity.peerId;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  can(permission: Permission): boolean {
    return this.identity.permissions.has(permission);
  }

  /** Counts a publish or send against the key's quota; past it, `over_message_quota` and the connection stays open. */
  spendQuota(requestId?: string): void {
    if (this.identity.quota?.take() === false)
      throw new SignallingError('over_message_quota', 'the message quota of this key is spent for now', requestId);
  }

  /**
   * Queues one frame. A peer that leaves more than the limit unread is
   * closed (1008) rather than buffered without bound; its SDK reconnects.
   */
  send(frame: OutboundFrame): void {
    if (this.closed) return;
    if (this.socket.bufferedAmount > this.sendBufferLimit) {
      this.close(1008, 'slow consumer: send buffer full');
      return;
    }
    this.socket.send(frame);
  }

  sendFrame(frame: ServerFrame): void {
    this.send(encodeFrame(frame));
  }

  close(code: CloseCode, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close(code, reason);
  }
}

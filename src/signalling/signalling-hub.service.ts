import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { ChannelCommandsService } from './channel-commands.service';
import { ChannelMembers } from './channel-members';
import { DeviceChannelsService } from './device-channels.service';
import { isValidPeerId, patternCovers } from './channel-rules';
import type { PeerInfo } from './peer-info';
import { peerInfo } from './peer-info';
import type { ClientFrame } from './signalling-frames';
import {
  CloseCode,
  OutboundFrame,
  SignallingClose,
  SignallingError,
  encodeFrame,
  encodeMessage,
} from './signalling-frames';
import type { PeerIdentity, PeerSocket } from './signalling-peer';
import { SignallingPeer } from './signalling-peer';
import { PeerRegistry } from './peer-registry';
import { checkChannel, sendFailure } from './signalling-failures';
import type { RelayedSide, SignallingRelay } from './signalling-relay';
import { SIGNALLING_RELAY } from './signalling-relay';

/** The `from` of everything the server publishes. No token may carry it as `sub`. */
export const SERVER_PEER_ID = '_server';
/** signalling-protocol.md, "Channels". */
export const MAX_SUBSCRIPTIONS = 100;
/** `going_away.retryAfterMs` on shutdown. */
const RETRY_AFTER_MS = 1000;

/**
 * The signalling core (signalling-protocol.md): connected peers, their
 * subscriptions in one pattern index, presence, publish fan-out and direct
 * sends. It never touches a raw socket: peers come in with a `PeerSocket`,
 * and every frame fanned out is encoded once. With several instances
 * (issue #5) the relay carries presence, publishes, sends and admin requests
 * to the others and hands theirs to this hub as `RelayedSide`.
 */
@Injectable()
export class SignallingHubService {
  private readonly registry = new PeerRegistry();
  private readonly members: ChannelMembers;
  private readonly logger = new Logger('Signalling');
  private readonly pong = encodeFrame({ type: 'pong' });

  /** Counters for metrics and the benchmark. */
  readonly stats = { connections: 0, published: 0, delivered: 0, direct: 0 };

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly commands: ChannelCommandsService,
    @Inject(SIGNALLING_RELAY) private readonly relayer: SignallingRelay,
    private readonly devices: DeviceChannelsService,
  ) {
    this.members = new ChannelMembers((peerId) => this.registry.connectionsOf(peerId) ?? [], relayer);
    relayer.attach(this.relayedSide());
  }

  /**
   * Admits a connection and sends its `welcome`. Throws SignallingClose
   * (4010) when its key is at its connection limit.
   */
  connect(identity: PeerIdentity, socket: PeerSocket, keyLimit?: number, remoteAddress?: string): SignallingPeer {
    if (identity.key !== undefined && keyLimit !== undefined && this.registry.keyCount(identity.key) >= keyLimit) {
      throw new SignallingClose(CloseCode.OverConcurrentLimit, 'over the concurrent connection limit of this key');
    }
    const peer = new SignallingPeer(identity, socket, this.config.delivery.sendBufferBytes, remoteAddress);
    peer.sendFrame({
      type: 'welcome',
      peerId: identity.peerId,
      expiresAt: identity.expiresAt,
      serverTime: Math.floor(Date.now() / 1000),
      maxMessageSize: this.config.maxMessageSize,
      ...(identity.metadata !== undefined ? { metadata: identity.metadata } : {}),
    });
    if (this.registry.add(peer)) {
      this.relayer.peerOnline(peer.peerId);
      this.devices.connected(peer);
    }
    this.stats.connections++;
    return peer;
  }

  /** Forgets a closed connection: its subscriptions end with presence `left`. */
  disconnect(peer: SignallingPeer): void {
    const last = this.registry.remove(peer);
    if (last === undefined) return;
    for (const channel of [...peer.subscriptions.keys()]) this.members.unsubscribe(peer, channel);
    if (last) {
      this.relayer.peerOffline(peer.peerId);
      // A device that moved to another instance is still online there.
      if (!this.relayer.connectedElsewhere(peer.peerId)) this.devices.disconnected(peer);
    }
    this.stats.connections--;
  }

  /**
   * Handles one parsed client frame. Per-request failures throw
   * SignallingError; those of a command publish, which completes later, are
   * answered here through `fail`.
   */
  handle(peer: SignallingPeer, frame: ClientFrame): void {
    switch (frame.type) {
      case 'subscribe':
        return this.subscribe(peer, frame.channel, frame.includeSenderMetadata, frame.requestId);
      case 'unsubscribe':
        return this.unsubscribe(peer, frame.channel, frame.requestId);
      case 'publish':
        return this.publish(peer, frame.channel, frame.data, frame.hasData, frame.requestId);
      case 'send':
        return this.sendDirect(peer, frame.to, frame.data, frame.hasData, frame.requestId);
      case 'ping':
        return peer.send(this.pong);
    }
  }

  /** A failure as the client sees it (sendFailure). */
  fail(peer: SignallingPeer, err: unknown, requestId: string | undefined): void {
    sendFailure(peer, err, requestId, this.logger);
  }

  private subscribe(peer: SignallingPeer, channel: unknown, includeSenderMetadata: boolean, requestId?: string): void {
    const name = checkChannel(channel, requestId);
    if (!peer.can('subscribe'))
      throw new SignallingError('action_not_permitted', 'this credential may not subscribe', requestId);
    if (!peer.identity.channels.some((claim) => patternCovers(claim, name))) {
      throw new SignallingError('channel_not_authorized', `not authorized for ${name}`, requestId);
    }
    this.devices.checkSubscribe(peer, name, requestId);
    if (!peer.subscriptions.has(name) && peer.subscriptions.size >= MAX_SUBSCRIPTIONS) {
      throw new SignallingError(
        'channel_limit_exceeded',
        `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`,
        requestId,
      );
    }
    // Subscribing again only updates the options ("last subscribe wins") and re-sends the roster.
    this.members.subscribe(peer, name, { includeSenderMetadata });
    if (requestId !== undefined) peer.sendFrame({ type: 'ack', requestId });
    // The roster follows the ack, even when empty: MeteredPeer's reconcile waits for it.
    if (peer.can('presence')) {
      peer.sendFrame({ type: 'presence', channel: name, joined: this.members.roster(name, peer.peerId), left: [] });
    }
  }

  private unsubscribe(peer: SignallingPeer, channel: unknown, requestId?: string): void {
    const name = checkChannel(channel, requestId);
    this.members.unsubscribe(peer, name);
    if (requestId !== undefined) peer.sendFrame({ type: 'ack', requestId });
  }

  private publish(peer: SignallingPeer, channel: unknown, data: unknown, hasData: boolean, requestId?: string): void {
    const name = checkChannel(channel, requestId);
    if (!peer.can('publish'))
      throw new SignallingError('action_not_permitted', 'this credential may not publish', requestId);
    if (!hasData) throw new SignallingError('missing_data', 'publish needs data', requestId);
    if (!peer.identity.matcher.matches(name))
      throw new SignallingError('channel_not_authorized', `not authorized for ${name}`, requestId);
    const device = this.devices.route(name);
    this.devices.checkPublish(peer, device, requestId);
    peer.spendQuota(requestId);
    if (!device) return this.relay(peer, name, data, requestId);
    // Device channels carry no raw publishes (issue #15): a device's message is acknowledged once its event is
    // in the log, and a command once it was sent; subscribers get the mirror's copy of the event, once.
    const done =
      device.kind === 'cmd'
        ? this.commands.send(device, data, requestId)
        : this.devices.ingest(name, device, data, requestId);
    void done.then(
      () => requestId !== undefined && peer.sendFrame({ type: 'ack', requestId }),
      (err: unknown) => this.fail(peer, err, requestId),
    );
  }

  private relay(peer: SignallingPeer, channel: string, data: unknown, requestId?: string): void {
    if (requestId !== undefined) peer.sendFrame({ type: 'ack', requestId });
    const dataJson = JSON.stringify(data);
    this.deliver(channel, peer.peerId, dataJson, peer.peerMetadataJson);
    this.relayer.publish(channel, peer.peerId, dataJson, peer.peerMetadataJson);
  }

  /** A channel message to the subscribers here: published here, or relayed from another instance. */
  private deliver(channel: string, from: string, dataJson: string, metaJson: string | undefined): void {
    this.count(
      this.members.deliver(
        channel,
        from,
        () => encodeMessage(channel, from, dataJson),
        metaJson === undefined ? undefined : () => encodeMessage(channel, from, dataJson, metaJson),
      ),
    );
  }

  private sendDirect(peer: SignallingPeer, to: unknown, data: unknown, hasData: boolean, requestId?: string): void {
    if (!isValidPeerId(to))
      throw new SignallingError(
        'invalid_peer_id',
        'to must be a peer id (printable ASCII, at most 128 characters)',
        requestId,
      );
    if (!hasData) throw new SignallingError('missing_data', 'send needs data', requestId);
    if (!peer.can('send')) throw new SignallingError('action_not_permitted', 'this credential may not send', requestId);
    const targets = this.registry.connectionsOf(to);
    const elsewhere = this.relayer.connectedElsewhere(to);
    if (!targets && !elsewhere) throw new SignallingError('peer_not_found', `peer ${to} is not connected`, requestId);
    if (!targets && !this.relayer.reachable)
      throw new SignallingError('backend_error', `peer ${to} is on another instance, unreachable for now`, requestId);
    peer.spendQuota(requestId);
    if (requestId !== undefined) peer.sendFrame({ type: 'ack', requestId });
    const frame = encodeFrame({
      type: 'direct',
      from: peer.peerId,
      data,
      ...(peer.identity.peerMetadata !== undefined ? { fromMetadata: peer.identity.peerMetadata } : {}),
    });
    for (const target of targets ?? []) target.send(frame);
    if (elsewhere) this.relayer.direct(to, frame);
    this.stats.direct++;
  }

  /**
   * Publishes on a channel as the server (the device mirror, room
   * bindings). `dataJson` is already serialised; the frame is built only if
   * someone is subscribed. Returns the number of deliveries.
   */
  publishFromServer(channel: string, dataJson: string): number {
    return this.count(
      this.members.deliver(channel, SERVER_PEER_ID, () => encodeMessage(channel, SERVER_PEER_ID, dataJson)),
    );
  }

  /** Closes every connection of a peer id, on every instance, with 4020; returns how many. */
  async kick(peerId: string): Promise<number> {
    return this.kickLocal(peerId) + (await this.relayer.kick(peerId));
  }

  private kickLocal(peerId: string): number {
    const same = this.registry.connectionsOf(peerId);
    if (!same) return 0;
    for (const peer of same) peer.close(CloseCode.AdminDisconnect, 'disconnected by an administrator');
    return same.size;
  }

  /** Shutdown: `going_away`, then close 1001, to every peer. */
  goAway(): void {
    this.devices.stop();
    const frame = encodeFrame({ type: 'going_away', retryAfterMs: RETRY_AFTER_MS });
    for (const peer of this.registry.all()) {
      peer.send(frame);
      peer.close(CloseCode.GoingAway, 'server shutting down');
    }
  }

  /** Distinct peer ids and channel subscriptions on this instance, for metrics (read at scrape time). */
  localCounts(): { peers: number; subscriptions: number } {
    let subscriptions = 0;
    for (const peer of this.registry.all()) subscriptions += peer.subscriptions.size;
    return { peers: this.registry.size, subscriptions };
  }

  async peers(): Promise<PeerInfo[]> {
    return [...[...this.registry.all()].map(peerInfo), ...(await this.relayer.peers())];
  }

  /** What other instances' messages do here (the relay calls these). */
  private relayedSide(): RelayedSide {
    return {
      deliver: (channel, from, dataJson, metaJson) => this.deliver(channel, from, dataJson, metaJson),
      direct: (to, frameJson) => {
        const frame = new OutboundFrame(Buffer.from(frameJson));
        for (const target of this.registry.connectionsOf(to) ?? []) target.send(frame);
      },
      presence: (change) => this.members.remoteChange(change),
      localPeers: () => [...this.registry.all()].map(peerInfo),
      kickLocal: (peerId) => this.kickLocal(peerId),
    };
  }

  private count(delivered: number): number {
    this.stats.published++;
    this.stats.delivered += delivered;
    return delivered;
  }
}

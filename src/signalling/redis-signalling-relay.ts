import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable, Logger } from '@nestjs/common';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { RedisRepository } from '../cluster/redis.repository';
import type { PeerInfo } from './peer-info';
import type { DeltaHeader, RelayHeader, Snapshot } from './relay-envelope';
import { decodeRelay, encodeRelay, snapshotOf } from './relay-envelope';
import { RelayRequests } from './relay-requests';
import { RemotePeers } from './remote-peers';
import type { OutboundFrame, PresencePeer } from './signalling-frames';
import type { RelayedSide, RemotePresenceChange, SignallingRelay } from './signalling-relay';

/** How often an instance says it is alive. */
export const HEARTBEAT_MS = 1000;
/** An instance silent this long is gone (killed): its peers leave every roster. */
export const EXPIRE_MS = 4000;
/** Longest wait for other instances' answers to an admin request. */
const ASK_TIMEOUT_MS = 1000;
/** How long to wait for a state asked for before asking again. */
const SYNC_RETRY_MS = 2000;

interface Other {
  /** The last delta applied; undefined until its state has arrived. */
  seq: number | undefined;
  lastSeen: number;
  syncAskedAt?: number;
}

/**
 * Signalling across instances over Redis pub/sub (issue #5). Each instance
 * keeps the presence of the others in memory (RemotePeers), fed by their
 * numbered deltas on a shared channel; a missed delta (a seq gap) or an
 * instance heard of for the first time makes it ask that instance for its
 * whole state. Publishes go to every instance on the shared channel; direct
 * frames and admin requests go to the inbox of the instances concerned.
 * An instance that stops its heartbeat is forgotten after EXPIRE_MS and its
 * peers leave, except while this instance cannot hear anyone (Redis down):
 * then what it knows is kept and checked again once Redis is back.
 */
@Injectable()
export class RedisSignallingRelay implements SignallingRelay, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Signalling');
  private readonly id: string;
  private readonly remote = new RemotePeers();
  private readonly others = new Map<string, Other>();
  /** Instances that said `bye`: what they say afterwards is late. */
  private readonly departed = new Set<string>();
  private readonly requests = new RelayRequests(ASK_TIMEOUT_MS);
  private readonly roomListeners: ((room: string | undefined) => void)[] = [];
  private readonly shared: string;
  private side: RelayedSide | undefined;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisRepository,
    lease: ClusterLeaseService,
  ) {
    this.id = lease.instanceId;
    this.shared = redis.key('signalling');
  }

  async onModuleInit(): Promise<void> {
    const receive = (raw: Buffer): void => this.receive(raw);
    await this.redis.subscribe(this.shared, receive);
    await this.redis.subscribe(this.inbox(this.id), receive);
    this.redis.onReconnect(() => this.reconnected());
    this.timer = setInterval(() => this.tick(), HEARTBEAT_MS);
    this.timer.unref();
    this.say({ t: 'hello', i: this.id, s: this.seq });
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.requests.close();
    this.say({ t: 'bye', i: this.id });
  }

  get reachable(): boolean {
    return this.redis.connected;
  }

  attach(side: RelayedSide): void {
    this.side = side;
  }

  remoteRoster(channel: string): Iterable<PresencePeer> {
    return this.remote.roster(channel);
  }

  presentElsewhere(channel: string, peerId: string): boolean {
    return this.remote.has(channel, peerId);
  }

  connectedElsewhere(peerId: string): boolean {
    return this.remote.connected(peerId);
  }

  peerOnline(peerId: string): void {
    this.say({ t: 'on', i: this.id, s: ++this.seq, p: peerId });
  }

  peerOffline(peerId: string): void {
    this.say({ t: 'off', i: this.id, s: ++this.seq, p: peerId });
  }

  joined(channel: string, peer: PresencePeer): void {
    const m = peer.metadata === undefined ? {} : { m: peer.metadata };
    this.say({ t: 'join', i: this.id, s: ++this.seq, c: channel, p: peer.peerId, ...m });
  }

  left(channel: string, peerId: string): void {
    this.say({ t: 'leave', i: this.id, s: ++this.seq, c: channel, p: peerId });
  }

  publish(channel: string, from: string, dataJson: string, fromMetadataJson: string | undefined): void {
    const body = fromMetadataJson === undefined ? [dataJson] : [dataJson, fromMetadataJson];
    this.say({ t: 'msg', i: this.id, c: channel, f: from }, ...body);
  }

  direct(to: string, frame: OutboundFrame): void {
    const json = frame.json.toString('utf8');
    for (const instance of this.remote.instancesWith(to)) this.tell(instance, { t: 'dm', i: this.id, p: to }, json);
  }

  async peers(): Promise<PeerInfo[]> {
    const answers = await this.ask((r, instance) => this.tell(instance, { t: 'ask', i: this.id, r, q: 'peers' }));
    return (answers as PeerInfo[][]).flat();
  }

  async kick(peerId: string): Promise<number> {
    const answers = await this.ask((r, instance) =>
      this.tell(instance, { t: 'ask', i: this.id, r, q: 'kick', p: peerId }),
    );
    return (answers as number[]).reduce((sum, n) => sum + n, 0);
  }

  roomChanged(room: string): void {
    this.say({ t: 'room', i: this.id, room });
  }

  onRoomChanged(listener: (room: string | undefined) => void): void {
    this.roomListeners.push(listener);
  }

  private inbox(instance: string): string {
    return `${this.shared}:${instance}`;
  }

  /** To every instance (this one skips its own). Dropped while Redis is down; the seq gap tells the others. */
  private say(header: RelayHeader, ...body: string[]): void {
    this.redis.publish(this.shared, encodeRelay(header, ...body));
  }

  private tell(instance: string, header: RelayHeader, ...body: string[]): void {
    this.redis.publish(this.inbox(instance), encodeRelay(header, ...body));
  }

  /** Asks every instance known alive; an admin request waits for nobody while Redis is down. */
  private ask(send: (requestId: string, instance: string) => void): Promise<unknown[]> {
    if (!this.redis.connected) return Promise.resolve([]);
    return this.requests.gather([...this.others.keys()], send);
  }

  private receive(raw: Buffer): void {
    const message = decodeRelay(raw);
    if (!message || message.header.i === this.id || this.departed.has(message.header.i)) return;
    const { header, body } = message;
    const side = this.side;
    if (!side) return;
    switch (header.t) {
      case 'msg':
        return side.deliver(header.c, header.f, body[0], body[1]);
      case 'dm':
        return side.direct(header.p, body[0]);
      case 'hb':
        return this.heard(header.i, header.s);
      case 'hello':
        this.sendState(header.i);
        return this.heard(header.i, header.s);
      case 'sync':
        return this.sendState(header.i);
      case 'state':
        return this.applyState(header.i, header.s, JSON.parse(body[0]) as Snapshot);
      case 'bye':
        this.departed.add(header.i);
        return this.forget(header.i);
      case 'ask': {
        const answer = header.q === 'peers' ? side.localPeers() : side.kickLocal(header.p);
        return this.tell(header.i, { t: 'ans', i: this.id, r: header.r }, JSON.stringify(answer));
      }
      case 'ans':
        return this.requests.answer(header.r, header.i, JSON.parse(body[0]));
      case 'room':
        return this.roomListeners.forEach((listener) => listener(header.room));
      case 'on':
      case 'off':
      case 'join':
      case 'leave':
        return this.applyDelta(header);
    }
  }

  private other(instance: string): Other {
    let other = this.others.get(instance);
    if (!other) this.others.set(instance, (other = { seq: undefined, lastSeen: Date.now() }));
    other.lastSeen = Date.now();
    return other;
  }

  /** A heartbeat (or hello): alive, and up to delta `seq`. */
  private heard(instance: string, seq: number): void {
    const other = this.other(instance);
    if (other.seq !== seq) this.askState(instance, other);
  }

  private applyDelta(delta: DeltaHeader): void {
    const other = this.other(delta.i);
    if (other.seq === undefined || delta.s !== other.seq + 1) {
      // Missed something (or never heard its state): only its whole state is sure now.
      other.seq = undefined;
      return this.askState(delta.i, other);
    }
    other.seq = delta.s;
    const changes: RemotePresenceChange[] = [];
    switch (delta.t) {
      case 'on':
        this.remote.peerOnline(delta.i, delta.p);
        break;
      case 'off':
        this.remote.peerOffline(delta.i, delta.p, changes);
        break;
      case 'join':
        this.remote.join(
          delta.i,
          delta.c,
          delta.m === undefined ? { peerId: delta.p } : { peerId: delta.p, metadata: delta.m },
          changes,
        );
        break;
      case 'leave':
        this.remote.leave(delta.i, delta.c, delta.p, changes);
        break;
    }
    this.announce(changes);
  }

  private applyState(instance: string, seq: number, snapshot: Snapshot): void {
    const other = this.other(instance);
    other.seq = seq;
    other.syncAskedAt = undefined;
    const changes: RemotePresenceChange[] = [];
    this.remote.replace(instance, snapshot, changes);
    this.announce(changes);
  }

  private askState(instance: string, other: Other): void {
    const now = Date.now();
    if (other.syncAskedAt !== undefined && now - other.syncAskedAt < SYNC_RETRY_MS) return;
    other.syncAskedAt = now;
    this.tell(instance, { t: 'sync', i: this.id });
  }

  /** This instance's peers as one snapshot, numbered with the last delta sent. */
  private sendState(instance: string): void {
    const snapshot = snapshotOf(this.side?.localPeers() ?? []);
    this.tell(instance, { t: 'state', i: this.id, s: this.seq }, JSON.stringify(snapshot));
  }

  private forget(instance: string): void {
    if (!this.others.delete(instance)) return;
    this.requests.gone(instance);
    const changes: RemotePresenceChange[] = [];
    this.remote.drop(instance, changes);
    this.announce(changes);
  }

  private announce(changes: readonly RemotePresenceChange[]): void {
    for (const change of changes) this.side?.presence(change);
  }

  private tick(): void {
    // Cut off from Redis, silence proves nothing about the others: keep them until it is back.
    if (!this.redis.connected) return;
    this.say({ t: 'hb', i: this.id, s: this.seq });
    const now = Date.now();
    for (const [instance, other] of this.others) {
      if (now - other.lastSeen > EXPIRE_MS) {
        this.logger.warn(`Signalling instance ${instance} went silent; its peers leave`);
        this.forget(instance);
      } else if (other.seq === undefined) this.askState(instance, other);
    }
  }

  /** Back on Redis: a fresh grace period for everyone, and a hello to catch up both ways. */
  private reconnected(): void {
    const now = Date.now();
    for (const other of this.others.values()) other.lastSeen = now;
    this.say({ t: 'hello', i: this.id, s: this.seq });
    this.roomListeners.forEach((listener) => listener(undefined));
  }
}

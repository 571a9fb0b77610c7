import { CloseCode } from './signalling-frames';
import type { SignallingPeer } from './signalling-peer';

/**
 * Per-connection limits of signalling-protocol.md: the message rate (close
 * 4011), keepalive and inactivity (close 4000), token expiry (close 4002).
 * Each works from timers and `Date.now()` only, so unit specs drive them
 * with Jest's fake timers.
 */

/** Metered: more than 100 messages a second, or bursts over 200, close the connection. */
export const RATE_PER_SECOND = 100;
export const RATE_BURST = 200;
/** The server pings this often. */
export const PING_INTERVAL_MS = 30_000;
/** A connection silent this long is dead. */
export const INACTIVITY_TIMEOUT_MS = 60_000;
/** How long before a token's `exp` the server closes with 4002. */
export const EXPIRY_MARGIN_MS = 1_000;
/** `setTimeout` holds at most 2^31 - 1 ms; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A token bucket: `burst` tokens, refilled at `perSecond`. */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly perSecond = RATE_PER_SECOND,
    private readonly burst = RATE_BURST,
  ) {
    this.tokens = burst;
    this.refilledAt = Date.now();
  }

  /** Takes one token; false when the bucket is empty (the sender is over the rate). */
  take(): boolean {
    const now = Date.now();
    if (now > this.refilledAt) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.perSecond) / 1000);
      this.refilledAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface KeepaliveTarget {
  /** Sends a WebSocket ping. */
  ping(): void;
  /** The connection has been silent for the whole inactivity window. */
  expire(): void;
}

/**
 * Pings every `pingIntervalMs` and expires the connection after
 * `timeoutMs` without an inbound frame. `touch()` runs on every inbound
 * frame, so it only records the time; the deadline timer re-arms itself
 * lazily when it finds the connection was heard from meanwhile.
 */
export class Keepalive {
  private lastHeard = Date.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly target: KeepaliveTarget,
    private readonly pingIntervalMs = PING_INTERVAL_MS,
    private readonly timeoutMs = INACTIVITY_TIMEOUT_MS,
  ) {}

  start(): void {
    this.lastHeard = Date.now();
    this.pingTimer = setInterval(() => this.target.ping(), this.pingIntervalMs);
    this.armDeadline(this.timeoutMs);
  }

  touch(): void {
    this.lastHeard = Date.now();
  }

  stop(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.deadline);
    this.pingTimer = this.deadline = undefined;
  }

  private armDeadline(ms: number): void {
    this.deadline = setTimeout(() => {
      const silentFor = Date.now() - this.lastHeard;
      if (silentFor >= this.timeoutMs) {
        this.stop();
        this.target.expire();
      } else this.armDeadline(this.timeoutMs - silentFor);
    }, ms);
  }
}

/**
 * Calls `onExpiry` `EXPIRY_MARGIN_MS` before a token's `exp` (Unix
 * seconds), so the client sees 4002 before its token stops being valid.
 */
export class ExpiryTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly expiresAtSec: number,
    private readonly onExpiry: () => void,
  ) {}

  /** Milliseconds until the connection must close; <= 0 means now. */
  remainingMs(): number {
    return this.expiresAtSec * 1000 - EXPIRY_MARGIN_MS - Date.now();
  }

  start(): void {
    const remaining = this.remainingMs();
    if (remaining <= 0) return this.onExpiry();
    this.timer = setTimeout(() => this.start(), Math.min(remaining, MAX_TIMER_MS));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * A publishable key's message quota (`maxMessagesPerPeriod`): the
 * publishes and sends of all its connections, counted in fixed periods.
 */
export class MessageQuota {
  private period = -1;
  private used = 0;

  constructor(
    private readonly max: number,
    private readonly periodSec: number,
  ) {}

  /** Counts one message; false when this period's quota is already spent. */
  take(): boolean {
    const period = Math.floor(Date.now() / (this.periodSec * 1000));
    if (period !== this.period) {
      this.period = period;
      this.used = 0;
    }
    if (this.used >= this.max) return false;
    this.used++;
    return true;
  }
}

/**
 * The limits of one connection, each mapped to the close code the client
 * sees: 4000 after the inactivity window, 4002 just before the token's
 * `exp`, 4011 over the message rate. The gateway feeds it what arrives.
 */
export class PeerLimits {
  private readonly bucket = new TokenBucket();
  private readonly keepalive: Keepalive;
  private readonly expiry: ExpiryTimer | undefined;

  constructor(
    private readonly peer: SignallingPeer,
    /** Sends a WebSocket ping. */
    ping: () => void,
  ) {
    this.keepalive = new Keepalive({
      ping,
      expire: () => peer.close(CloseCode.ClientInactivity, 'inactivity timeout'),
    });
    const exp = peer.identity.expiresAt;
    this.expiry =
      exp === null ? undefined : new ExpiryTimer(exp, () => peer.close(CloseCode.TokenExpired, 'token expired'));
  }

  start(): void {
    this.keepalive.start();
    this.expiry?.start();
  }

  /** A control frame (ping, pong) arrived: the connection is alive. */
  heard(): void {
    this.keepalive.touch();
  }

  /** A message arrived. False when it is over the rate: the peer is then closed with 4011. */
  admit(): boolean {
    this.keepalive.touch();
    if (this.bucket.take()) return true;
    this.peer.close(CloseCode.OverMessageRate, 'over the message rate');
    return false;
  }

  stop(): void {
    this.keepalive.stop();
    this.expiry?.stop();
  }
}

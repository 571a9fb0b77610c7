import { ChannelMatcher } from '../auth/channel-pattern';
import { ExpiryTimer, Keepalive, MessageQuota, PeerLimits, TokenBucket } from './connection-limits';
import type { PeerSocket } from './signalling-peer';
import { SignallingPeer } from './signalling-peer';

describe('connection limits', () => {
  beforeEach(() => jest.useFakeTimers({ now: new Date('2025-01-15T12:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  describe('TokenBucket', () => {
    it('allows a burst of 200, then 100 a second', () => {
      const bucket = new TokenBucket();
      for (let i = 0; i < 200; i++) expect(bucket.take()).toBe(true);
      expect(bucket.take()).toBe(false);
      jest.advanceTimersByTime(1000);
      for (let i = 0; i < 100; i++) expect(bucket.take()).toBe(true);
      expect(bucket.take()).toBe(false);
    });

    it('never lets a sender at 100 a second run dry', () => {
      const bucket = new TokenBucket();
      for (let second = 0; second < 30; second++) {
        for (let i = 0; i < 10; i++) {
          for (let k = 0; k < 10; k++) expect(bucket.take()).toBe(true);
          jest.advanceTimersByTime(100);
        }
      }
    });

    it('refills to the burst size at most', () => {
      const bucket = new TokenBucket();
      jest.advanceTimersByTime(60_000);
      let taken = 0;
      while (bucket.take()) taken++;
      expect(taken).toBe(200);
    });
  });

  describe('Keepalive', () => {
    function keepalive(): { ka: Keepalive; pings: number[]; expired: number[] } {
      const start = Date.now();
      const pings: number[] = [];
      const expired: number[] = [];
      const ka = new Keepalive({
        ping: () => pings.push(Date.now() - start),
        expire: () => expired.push(Date.now() - start),
      });
      ka.start();
      return { ka, pings, expired };
    }

    it('pings every 30 s and expires a silent connection after 60 s', () => {
      const { pings, expired } = keepalive();
      jest.advanceTimersByTime(59_999);
      expect(pings).toEqual([30_000]);
      expect(expired).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(expired).toEqual([60_000]);
      jest.advanceTimersByTime(120_000);
      // Stopped once expired: no more pings, no second expiry.
      expect(pings).toEqual([30_000]);
      expect(expired).toEqual([60_000]);
    });

    it('counts silence from the last inbound frame', () => {
      const { ka, expired } = keepalive();
      jest.advanceTimersByTime(50_000);
      ka.touch();
      jest.advanceTimersByTime(59_999);
      expect(expired).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(expired).toEqual([110_000]);
    });

    it('never expires a connection that keeps talking', () => {
      const { ka, pings, expired } = keepalive();
      for (let i = 0; i < 100; i++) {
        jest.advanceTimersByTime(20_000);
        ka.touch();
      }
      expect(expired).toEqual([]);
      expect(pings).toHaveLength(66);
    });

    it('does nothing after stop', () => {
      const { ka, pings, expired } = keepalive();
      ka.stop();
      jest.advanceTimersByTime(300_000);
      expect(pings).toEqual([]);
      expect(expired).toEqual([]);
    });
  });

  describe('ExpiryTimer', () => {
    it('fires one second before exp', () => {
      const exp = Math.floor(Date.now() / 1000) + 3600;
      const fired: number[] = [];
      new ExpiryTimer(exp, () => fired.push(Date.now())).start();
      jest.advanceTimersByTime(3_598_999);
      expect(fired).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(fired).toEqual([exp * 1000 - 1000]);
    });

    it('fires at once for a token already within the margin', () => {
      const fired: number[] = [];
      new ExpiryTimer(Math.floor(Date.now() / 1000), () => fired.push(Date.now())).start();
      expect(fired).toHaveLength(1);
    });

    it('waits past the 24.8-day setTimeout limit for long-lived tokens', () => {
      const exp = Math.floor(Date.now() / 1000) + 40 * 86_400;
      const fired: number[] = [];
      new ExpiryTimer(exp, () => fired.push(Date.now())).start();
      jest.advanceTimersByTime(30 * 86_400_000);
      expect(fired).toEqual([]);
      jest.advanceTimersByTime(10 * 86_400_000);
      expect(fired).toEqual([exp * 1000 - 1000]);
    });

    it('does not fire after stop', () => {
      const fired: number[] = [];
      const timer = new ExpiryTimer(Math.floor(Date.now() / 1000) + 10, () => fired.push(Date.now()));
      timer.start();
      timer.stop();
      jest.advanceTimersByTime(20_000);
      expect(fired).toEqual([]);
    });
  });

  describe('MessageQuota', () => {
    it('allows the quota per period, then refuses until the next period starts', () => {
      // The fake clock starts at 12:00 UTC; hour-long periods start on the hour.
      const quota = new MessageQuota(3, 3600);
      expect([quota.take(), quota.take(), quota.take(), quota.take()]).toEqual([true, true, true, false]);
      jest.advanceTimersByTime(3_599_999);
      expect(quota.take()).toBe(false);
      jest.advanceTimersByTime(1);
      expect([quota.take(), quota.take(), quota.take(), quota.take()]).toEqual([true, true, true, false]);
    });
  });

  describe('PeerLimits', () => {
    /** A connection with the limits running: what it was sent, and how it was closed. */
    function connection(expiresAt: number | null): {
      limits: PeerLimits;
      pings: () => number;
      closed: () => { code: number; reason: string } | undefined;
    } {
      let closed: { code: number; reason: string } | undefined;
      let pings = 0;
      const socket: PeerSocket = {
        send: () => {},
        close: (code, reason) => (closed = { code, reason }),
        bufferedAmount: 0,
      };
      const peer = new SignallingPeer(
        { peerId: 'p', expiresAt, channels: ['**'], matcher: new ChannelMatcher(['**']), permissions: new Set() },
        socket,
        1024,
      );
      const limits = new PeerLimits(peer, () => pings++);
      limits.start();
      return { limits, pings: () => pings, closed: () => closed };
    }

    it('closes a connection silent for 60 s with 4000, after pinging it at 30 s', () => {
      const c = connection(null);
      jest.advanceTimersByTime(30_000);
      expect(c.pings()).toBe(1);
      jest.advanceTimersByTime(29_999);
      expect(c.closed()).toBeUndefined();
      jest.advanceTimersByTime(1);
      expect(c.closed()).toEqual({ code: 4000, reason: 'inactivity timeout' });
    });

    it('keeps a connection open while messages or pongs arrive', () => {
      const c = connection(null);
      for (let i = 0; i < 10; i++) {
        jest.advanceTimersByTime(45_000);
        if (i % 2 === 0) c.limits.heard();
        else expect(c.limits.admit()).toBe(true);
      }
      expect(c.closed()).toBeUndefined();
      c.limits.stop();
      jest.advanceTimersByTime(600_000);
      expect(c.closed()).toBeUndefined();
    });

    it('closes with 4002 one second before the token expires', () => {
      const c = connection(Math.floor(Date.now() / 1000) + 20);
      // Talking keeps inactivity away; expiry comes regardless.
      jest.advanceTimersByTime(10_000);
      c.limits.heard();
      jest.advanceTimersByTime(8_999);
      expect(c.closed()).toBeUndefined();
      jest.advanceTimersByTime(1);
      expect(c.closed()).toEqual({ code: 4002, reason: 'token expired' });
    });

    it('closes with 4011 past the burst and refuses the message', () => {
      const c = connection(null);
      for (let i = 0; i < 200; i++) expect(c.limits.admit()).toBe(true);
      expect(c.limits.admit()).toBe(false);
      expect(c.closed()).toEqual({ code: 4011, reason: 'over the message rate' });
    });
  });
});

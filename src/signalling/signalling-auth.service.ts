import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ChannelMatcher } from '../auth/channel-pattern';
import { TokenService } from '../auth/token.service';
import { DomainError } from '../common/domain-error';
import { deviceOfPeer } from './device-peer-id';
import { channelProblem } from './channel-rules';
import { EXPIRY_MARGIN_MS, MessageQuota } from './connection-limits';
import { CloseCode, SignallingClose } from './signalling-frames';
import { SERVER_PEER_ID } from './signalling-hub.service';
import type { PeerIdentity } from './signalling-peer';
import type { SignallingSettings } from './signalling-settings';
import { SIGNALLING_SETTINGS, normaliseOrigin } from './signalling-settings';

export interface Admission {
  identity: PeerIdentity;
  /** The key's concurrent connection limit, for key connections. */
  keyLimit?: number;
}

/**
 * Turns the upgrade URL's credential (`?token=` or `?key=`, never a frame)
 * into a peer identity, or the close code the client gets before any
 * `welcome` (signalling-protocol.md, "Connecting").
 */
@Injectable()
export class SignallingAuthService {
  /** One quota per key that has one, shared by its connections. */
  private readonly quotas = new Map<string, MessageQuota>();

  constructor(
    private readonly tokens: TokenService,
    @Inject(SIGNALLING_SETTINGS) private readonly settings: SignallingSettings,
  ) {
    for (const spec of settings.keys.values()) {
      if (spec.maxMessagesPerPeriod !== undefined)
        this.quotas.set(spec.key, new MessageQuota(spec.maxMessagesPerPeriod, spec.quotaPeriodSec));
    }
  }

  /** Throws SignallingClose (4001, 4002, 4003, 4012). */
  admit(query: URLSearchParams, origin: string | undefined): Admission {
    const token = query.get('token');
    const key = query.get('key');
    if (token && key) throw new SignallingClose(CloseCode.InvalidToken, 'pass either token or key, not both');
    if (token) return { identity: this.fromToken(token) };
    if (key) return this.fromKey(key, origin);
    throw new SignallingClose(CloseCode.InvalidToken, 'missing credential: ?token= or ?key=');
  }

  private fromToken(token: string): PeerIdentity {
    let claims;
    try {
      claims = this.tokens.verify(token);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'token_expired')
        throw new SignallingClose(CloseCode.TokenExpired, 'token expired');
      if (err instanceof DomainError) throw new SignallingClose(CloseCode.InvalidToken, err.message);
      throw err;
    }
    if (claims.sub === SERVER_PEER_ID)
      throw new SignallingClose(CloseCode.InvalidToken, `${SERVER_PEER_ID} is the server's peer id`);
    // The server closes with 4002 shortly before exp; a token already inside that margin is expired.
    if (claims.exp * 1000 - EXPIRY_MARGIN_MS <= Date.now())
      throw new SignallingClose(CloseCode.TokenExpired, 'token expired');
    // A device token's peer id is its device, so that its connection can say the device is online.
    if (claims.role === 'device' && deviceOfPeer(claims.sub) === undefined)
      throw new SignallingClose(CloseCode.InvalidToken, "a device token's sub is {type}/{id}");
    const channels = usablePatterns(claims.channels);
    return {
      peerId: claims.sub,
      expiresAt: claims.exp,
      channels,
      matcher: new ChannelMatcher(channels),
      permissions: new Set(claims.permissions),
      ...(claims.metadata !== undefined ? { metadata: claims.metadata } : {}),
      ...(claims.peerMetadata !== undefined ? { peerMetadata: claims.peerMetadata } : {}),
      ...(claims.role !== undefined ? { role: claims.role } : {}),
    };
  }

  private fromKey(key: string, origin: string | undefined): Admission {
    const spec = this.settings.keys.get(key);
    if (!spec) throw new SignallingClose(CloseCode.InvalidToken, 'unknown key');
    if (spec.disabled) throw new SignallingClose(CloseCode.AccountSuspended, 'key disabled');
    if (spec.origins !== '*') {
      const given = normaliseOrigin(origin);
      if (given === undefined || !spec.origins.includes(given))
        throw new SignallingClose(CloseCode.InvalidToken, 'origin not allowed for this key');
    }
    const channels = usablePatterns(spec.channels);
    const quota = this.quotas.get(key);
    return {
      identity: {
        peerId: randomUUID(),
        expiresAt: null,
        channels,
        matcher: new ChannelMatcher(channels),
        permissions: new Set(spec.permissions),
        ...(spec.metadata !== undefined ? { metadata: spec.metadata } : {}),
        key,
        ...(quota !== undefined ? { quota } : {}),
      },
      keyLimit: spec.maxConnections,
    };
  }
}

/** The claim's usable patterns; none at all is refused at connect time (4003). */
function usablePatterns(patterns: readonly string[]): string[] {
  const usable = patterns.filter((p) => channelProblem(p) === undefined);
  if (usable.length === 0)
    throw new SignallingClose(CloseCode.ChannelNotAuthorized, 'the credential authorizes no channel');
  return usable;
}

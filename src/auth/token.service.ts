import { Inject, Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { UnauthorizedError } from '../common/domain-error';

export const PERMISSIONS = ['publish', 'subscribe', 'presence', 'send'] as const;
export type Permission = (typeof PERMISSIONS)[number];
/**
 * A token that acts for devices on signalling (issue #15): `device` (its `sub`
 * is `{type}/{id}`) or `gateway` (for the devices its channels name). Such a
 * peer publishes only devices' data, status and cmd/response, and subscribes
 * only to command channels.
 */
export const DEVICE_ROLES = ['device', 'gateway'] as const;
export type DeviceRole = (typeof DEVICE_ROLES)[number];

/** Client token claims (signalling-protocol.md, "JWT"); web clients use the same tokens. */
export interface ClientClaims {
  sub: string;
  /** Unix seconds. */
  exp: number;
  channels: string[];
  permissions: Permission[];
  metadata?: Record<string, unknown>;
  peerMetadata?: Record<string, unknown>;
  role?: DeviceRole;
}

export interface MintRequest {
  peerId: string;
  channels: string[];
  permissions?: Permission[];
  /** Seconds. @default 3600 */
  expiresInSec?: number;
  metadata?: Record<string, unknown>;
  peerMetadata?: Record<string, unknown>;
  role?: DeviceRole;
}

/** Signs and verifies HS256 client tokens with `JWT_SECRET`. */
@Injectable()
export class TokenService {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  mint(request: MintRequest): { token: string; expiresAt: number } {
    const expiresAt = Math.floor(Date.now() / 1000) + (request.expiresInSec ?? 3600);
    const claims: ClientClaims = {
      sub: request.peerId,
      exp: expiresAt,
      channels: request.channels,
      permissions: request.permissions ?? ['subscribe', 'presence'],
      ...(request.metadata ? { metadata: request.metadata } : {}),
      ...(request.peerMetadata ? { peerMetadata: request.peerMetadata } : {}),
      ...(request.role ? { role: request.role } : {}),
    };
    return {
      token: jwt.sign(claims, this.config.auth.jwtSecret, { algorithm: 'HS256', noTimestamp: false }),
      expiresAt,
    };
  }

  /** Throws `invalid_token` or `token_expired`. */
  verify(token: string): ClientClaims {
    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, this.config.auth.jwtSecret, { algorithms: ['HS256'] });
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new UnauthorizedError('token_expired', 'The token has expired');
      throw new UnauthorizedError('invalid_token', 'The token is not valid');
    }
    if (typeof payload === 'string' || typeof payload.sub !== 'string' || typeof payload.exp !== 'number') {
      throw new UnauthorizedError('invalid_token', 'The token lacks sub or exp');
    }
    // signalling-protocol.md, "JWT": sub printable ASCII <= 128, <= 100 channels, metadata <= 8 KB, peerMetadata <= 4 KB.
    if (!/^[\x20-\x7e]{1,128}$/.test(payload.sub))
      throw new UnauthorizedError('invalid_token', 'The token sub must be printable ASCII of at most 128 characters');
    if (Array.isArray(payload.channels) && payload.channels.length > 100)
      throw new UnauthorizedError('invalid_token', 'The token has more than 100 channels');
    for (const [claim, limit] of [
      ['metadata', 8192],
      ['peerMetadata', 4096],
    ] as const) {
      const value: unknown = payload[claim];
      if (value === undefined) continue;
      if (
        typeof value !== 'object' ||
        value === null ||
        Array.isArray(value) ||
        Buffer.byteLength(JSON.stringify(value)) > limit
      ) {
        throw new UnauthorizedError('invalid_token', `The token ${claim} must be an object of at most ${limit} bytes`);
      }
    }
    if (payload.role !== undefined && !(DEVICE_ROLES as readonly unknown[]).includes(payload.role))
      throw new UnauthorizedError('invalid_token', `The token role must be one of ${DEVICE_ROLES.join(', ')}`);
    const channels = Array.isArray(payload.channels)
      ? (payload.channels as unknown[]).filter((c): c is string => typeof c === 'string')
      : [];
    const permissions = Array.isArray(payload.permissions)
      ? (payload.permissions as unknown[]).filter((p): p is Permission =>
          (PERMISSIONS as readonly unknown[]).includes(p),
        )
      : [];
    return { ...(payload as ClientClaims), channels, permissions };
  }
}

import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { UnauthorizedError } from '../common/domain-error';
import type { ClientClaims } from './token.service';
import { TokenService } from './token.service';

type RequestLike = { headers: Record<string, string | string[] | undefined>; url?: string };

/** Where a request's token came from: the cookie is the one a browser adds by itself (see OriginPolicy). */
export type CredentialSource = 'header' | 'query' | 'cookie';

/** Where a web client may carry its JWT: `Authorization: Bearer`, `?token=`, or a `token` cookie, in that order. */
export function credentialFromRequest(req: RequestLike): { token: string; from: CredentialSource } | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string' && header.startsWith('Bearer '))
    return { token: header.slice(7).trim(), from: 'header' };
  const query = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  if (query) return { token: query, from: 'query' };
  const cookie = req.headers.cookie;
  if (typeof cookie === 'string') {
    const match = /(?:^|;\s*)token=([^;]+)/.exec(cookie);
    if (match) return { token: decodeURIComponent(match[1]), from: 'cookie' };
  }
  return undefined;
}

export function tokenFromRequest(req: RequestLike): string | undefined {
  return credentialFromRequest(req)?.token;
}

export type AuthedRequest = Request & { claims?: ClientClaims };

/** Read endpoints: a valid client JWT, unless `AUTH=off`. The claims land on `req.claims`. */
@Injectable()
export class ClientAuthGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<AuthedRequest>();
    const token = tokenFromRequest(req);
    if (token === undefined) {
      if (!this.config.auth.required) return true;
      throw new UnauthorizedError(
        'missing_token',
        'A client token is required (Authorization: Bearer, ?token= or cookie)',
      );
    }
    req.claims = this.tokens.verify(token);
    return true;
  }
}

/** Admin endpoints: `Authorization: Bearer ADMIN_TOKEN`, always (AUTH=off does not open them). */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected: Buffer;
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = Buffer.from(config.auth.adminToken);
  }

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    const given = Buffer.from(typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : '');
    if (given.length !== this.expected.length || !timingSafeEqual(given, this.expected)) {
      throw new UnauthorizedError('invalid_admin_token', 'The admin API needs Authorization: Bearer <ADMIN_TOKEN>');
    }
    return true;
  }
}

import type { IncomingHttpHeaders } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { CredentialSource } from '../auth/auth.guards';
import { OriginPolicy } from '../auth/origin-policy';
import type { ClientClaims } from '../auth/token.service';
import { TokenService } from '../auth/token.service';
import { DomainError, UnauthorizedError } from '../common/domain-error';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';

/** A token and where the client put it (socket.io adds the handshake's `auth.token`). */
export interface ClientCredential {
  token: string;
  from: CredentialSource | 'handshake';
}

/**
 * The token check of the socket transports (raw WebSocket, socket.io), one
 * for both: the origin policy for cookie tokens, then the token's claims,
 * or none with `AUTH=off` and no token. HTTP streams and polling use
 * ClientAuthGuard, which does the same for requests.
 */
@Injectable()
export class ClientAuth {
  constructor(
    private readonly tokens: TokenService,
    private readonly origins: OriginPolicy,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Why a page of another origin riding on the cookie may not connect (issue #18, item 6), or undefined. */
  originRefusal(headers: IncomingHttpHeaders, credential: ClientCredential | undefined): string | undefined {
    return this.origins.refusal(headers, credential?.from === 'cookie');
  }

  /**
   * The client's claims; undefined with `AUTH=off` and no token. Throws
   * UnauthorizedError (`missing_token`, `invalid_token`, `token_expired`),
   * or DomainError `origin_not_allowed`. `where` tells a client without a
   * token where to put one.
   */
  claims(
    headers: IncomingHttpHeaders,
    credential: ClientCredential | undefined,
    where: string,
  ): ClientClaims | undefined {
    const refusal = this.originRefusal(headers, credential);
    if (refusal !== undefined) throw new DomainError('origin_not_allowed', refusal, 403);
    if (credential !== undefined) return this.tokens.verify(credential.token);
    if (!this.config.auth.required) return undefined;
    throw new UnauthorizedError('missing_token', `a token is required ${where}`);
  }
}

import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { tokenFromRequest } from '../auth/auth.guards';
import { TokenService } from '../auth/token.service';
import { UnauthorizedError } from '../common/domain-error';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { CommandSender } from './commands.service';

export type CommandRequest = Request & { sender?: CommandSender };

/**
 * Commands change devices, so `AUTH=off` does not open them: the admin token,
 * or a client JWT (whose `publish` permission and channels the service then
 * checks). The sender lands on `req.sender`.
 */
@Injectable()
export class CommandSenderGuard implements CanActivate {
  private readonly adminToken: Buffer;

  constructor(
    private readonly tokens: TokenService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.adminToken = Buffer.from(config.auth.adminToken);
  }

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<CommandRequest>();
    const token = tokenFromRequest(req);
    if (token === undefined) {
      throw new UnauthorizedError(
        'missing_token',
        'Sending commands needs a client token with publish permission, or the admin token',
      );
    }
    const given = Buffer.from(token);
    if (given.length === this.adminToken.length && timingSafeEqual(given, this.adminToken)) {
      req.sender = { kind: 'admin' };
    } else {
      req.sender = { kind: 'client', claims: this.tokens.verify(token) };
    }
    return true;
  }
}

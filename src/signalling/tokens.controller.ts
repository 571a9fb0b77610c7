import { Body, Controller, Post, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { TokenService } from '../auth/token.service';
import { readMintRequest } from './token-request';

/** `POST /v1/tokens` (signalling-protocol.md, "JWT"): a backend mints client tokens with the admin credential. */
@Controller('v1/tokens')
@UseGuards(AdminGuard)
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  @Post()
  mint(@Body() body: unknown): { token: string; expiresAt: number } {
    return this.tokens.mint(readMintRequest(body));
  }
}

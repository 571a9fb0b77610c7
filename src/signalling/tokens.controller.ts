import { Body, Controller, Post, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { TokenService } from '../auth/token.service';
import type { MintRequest } from '../auth/token.service';
import { MINT_TOKEN_BODY } from './tokens.dto';
import { AdminAuth, Answers, ApiDoc, ApiTags, Invalid, ref, Unauthorized } from '../docs/api-docs.decorators';

/** `POST /v1/tokens` (signalling-protocol.md, "JWT"): a backend mints client tokens with the admin credential. */
@Controller('v1/tokens')
@UseGuards(AdminGuard)
@ApiTags('signalling')
@AdminAuth()
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  @Post()
  @ApiDoc('mintToken', 'Mint a client token (signalling and web clients use the same JWTs)')
  @Answers(201, 'The token.', ref('Token'))
  @Invalid()
  @Unauthorized()
  mint(@Body({ schema: MINT_TOKEN_BODY }) body: MintRequest): { token: string; expiresAt: number } {
    return this.tokens.mint(body);
  }
}

import { Module } from '@nestjs/common';
import { AdminGuard, ClientAuthGuard } from './auth.guards';
import { OriginPolicy } from './origin-policy';
import { TokenService } from './token.service';

/** Client JWTs (same as signalling) and the admin credential. */
@Module({
  providers: [TokenService, ClientAuthGuard, AdminGuard, OriginPolicy],
  exports: [TokenService, ClientAuthGuard, AdminGuard, OriginPolicy],
})
export class AuthModule {}

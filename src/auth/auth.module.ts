import { Global, Module } from '@nestjs/common';
import { AdminGuard, ClientAuthGuard } from './auth.guards';
import { TokenService } from './token.service';

/** Client JWTs (same as signalling) and the admin credential. */
@Global()
@Module({
  providers: [TokenService, ClientAuthGuard, AdminGuard],
  exports: [TokenService, ClientAuthGuard, AdminGuard],
})
export class AuthModule {}

import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { BusModule } from '../bus/bus.module';
import { BroadcastController } from './broadcast.controller';
import { BroadcastService } from './broadcast.service';

/** Operator endpoints that belong to no other capability. */
@Module({ imports: [BusModule, AuthModule], controllers: [BroadcastController], providers: [BroadcastService] })
export class AdminModule {}

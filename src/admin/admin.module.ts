import { Module } from '@nestjs/common';
import { BroadcastController } from './broadcast.controller';
import { BroadcastService } from './broadcast.service';

/** Operator endpoints that belong to no other capability. */
@Module({ controllers: [BroadcastController], providers: [BroadcastService] })
export class AdminModule {}

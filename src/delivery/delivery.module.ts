import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { BusModule } from '../bus/bus.module';
import { ClusterModule } from '../cluster/cluster.module';
import { CommonModule } from '../common/common.module';
import { ClientAuth } from './client-auth';
import { DeliveryStreamService } from './delivery-stream.service';
import { Heartbeats } from './heartbeats';
import { HttpStreamController } from './http-stream.controller';
import { PollPosition } from './poll-position.entity';
import { PollPositionsRepository } from './poll-positions.repository';
import { PollController } from './poll.controller';
import { PollService } from './poll.service';
import { SocketIoGateway } from './socketio.gateway';
import { WsGateway } from './ws.gateway';

/**
 * Web delivery (issue #3): raw WebSocket, socket.io, SSE and NDJSON streams,
 * and polling. Every transport reads its events through
 * DeliveryStreamService, so the resume position, filters, claims, token
 * expiry and the slow-consumer bound mean the same everywhere.
 */
@Module({
  imports: [TypeOrmModule.forFeature([PollPosition]), BusModule, ClusterModule, AuthModule, CommonModule],
  controllers: [HttpStreamController, PollController],
  providers: [
    ClientAuth,
    DeliveryStreamService,
    Heartbeats,
    PollPositionsRepository,
    PollService,
    WsGateway,
    SocketIoGateway,
  ],
  exports: [DeliveryStreamService],
})
export class DeliveryModule {}

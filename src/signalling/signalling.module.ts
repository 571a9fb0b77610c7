import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '../auth/auth.module';
import { BusModule } from '../bus/bus.module';
import { ClusterModule } from '../cluster/cluster.module';
import { CommonModule } from '../common/common.module';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { ClusterLeaseService } from '../cluster/cluster-lease.service';
import { RedisRepository } from '../cluster/redis.repository';
import { DevicesModule } from '../devices/devices.module';
import { DeviceTypesModule } from '../config/device-types.module';
import { ChannelCommandsService } from './channel-commands.service';
import { DeviceChannelsService } from './device-channels.service';
import { DeviceTokensController } from './device-tokens.controller';
import { DeviceTokensService } from './device-tokens.service';
import { DeviceMirrorService } from './device-mirror.service';
import { PeersController } from './peers.controller';
import { RedisSignallingRelay } from './redis-signalling-relay';
import { RoomBinding } from './room-binding.entity';
import { RoomBindingRepository } from './room-binding.repository';
import { RoomBindingsService } from './room-bindings.service';
import { RoomsController } from './rooms.controller';
import { SignallingAuthService } from './signalling-auth.service';
import { SignallingHubService } from './signalling-hub.service';
import { SignallingMetricsService } from './signalling-metrics.service';
import { LocalSignallingRelay, SIGNALLING_RELAY } from './signalling-relay';
import { SIGNALLING_SETTINGS, loadSignallingSettings } from './signalling-settings';
import { SignallingGateway } from './signalling.gateway';
import { TokensController } from './tokens.controller';

/**
 * The Metered-compatible signalling adapter (issue #4): pub/sub, presence
 * and direct messages at `/v1`, the device-event mirror, room bindings, and
 * the token, peer and room endpoints. With REDIS_URL the relay makes the
 * instances one signalling service (issue #5).
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([RoomBinding]),
    DevicesModule,
    DeviceTypesModule,
    BusModule,
    ClusterModule,
    AuthModule,
    CommonModule,
  ],
  controllers: [TokensController, DeviceTokensController, PeersController, RoomsController],
  providers: [
    {
      provide: SIGNALLING_SETTINGS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => loadSignallingSettings(config.signalling),
    },
    {
      provide: SIGNALLING_RELAY,
      inject: [RedisRepository, ClusterLeaseService],
      useFactory: (redis: RedisRepository, lease: ClusterLeaseService) =>
        redis.enabled ? new RedisSignallingRelay(redis, lease) : new LocalSignallingRelay(),
    },
    ChannelCommandsService,
    DeviceChannelsService,
    DeviceTokensService,
    SignallingHubService,
    SignallingAuthService,
    SignallingGateway,
    RoomBindingRepository,
    RoomBindingsService,
    DeviceMirrorService,
    SignallingMetricsService,
  ],
})
export class SignallingModule {}

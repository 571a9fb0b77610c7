import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module';
import { ClusterModule } from '../cluster/cluster.module';
import { ConnectorsModule } from '../connectors/connectors.module';
import { MqttModule } from '../mqtt/mqtt.module';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';

@Module({
  imports: [MqttModule, BusModule, ClusterModule, ConnectorsModule],
  controllers: [HealthController],
  providers: [HealthService],
  exports: [HealthService],
})
export class HealthModule {}

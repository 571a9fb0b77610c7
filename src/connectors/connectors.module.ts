import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BusModule } from '../bus/bus.module';
import { ClusterModule } from '../cluster/cluster.module';
import { DatabaseModule } from '../database/database.module';
import { ConnectorRecord } from './connector.entity';
import { ConnectorDeliveryService } from './connector-delivery.service';
import { ConnectorMetrics } from './connector-metrics';
import { ConnectorsController } from './connectors.controller';
import { ConnectorsRepository } from './connectors.repository';
import { ConnectorsService } from './connectors.service';

/**
 * Data connectors (issue #16): webhooks fed from the event log, each a
 * durable cursor delivered by one instance at a time. See
 * docs/architecture.md, "Data connectors".
 */
@Module({
  imports: [TypeOrmModule.forFeature([ConnectorRecord]), DatabaseModule, BusModule, ClusterModule],
  controllers: [ConnectorsController],
  providers: [ConnectorsRepository, ConnectorMetrics, ConnectorDeliveryService, ConnectorsService],
  exports: [ConnectorsService],
})
export class ConnectorsModule {}

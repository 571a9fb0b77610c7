import { Module } from '@nestjs/common';
import { SignallingModule } from '../signalling/signalling.module';
import { SignallingMetricsService } from './signalling-metrics.service';

/**
 * The signalling adapter's metrics. Its own module, so that ObservabilityModule
 * (global, used by every other module) does not depend on signalling.
 */
@Module({ imports: [SignallingModule], providers: [SignallingMetricsService] })
export class SignallingMetricsModule {}

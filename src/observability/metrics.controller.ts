import { Controller, Get, Header } from '@nestjs/common';
import { MetricsService } from './metrics.service';
import { AnswersContent, ApiDoc, ApiTags } from '../docs/api-docs.decorators';

/** Prometheus scrape endpoint. Open like /health: it carries counts, no device data. */
@Controller('metrics')
@ApiTags('service')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @ApiDoc('metrics', 'Prometheus metrics (text exposition format)')
  @AnswersContent(200, 'Counters, gauges and histograms.', { 'text/plain': { schema: { type: 'string' } } })
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}

import { Controller, Get, Header } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** Prometheus scrape endpoint. Open like /health: it carries counts, no device data. */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}

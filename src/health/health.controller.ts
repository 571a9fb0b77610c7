import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { HealthReport } from './health.service';
import { HealthService } from './health.service';
import { Answers, ApiDoc, ApiTags, ref } from '../docs/api-docs.decorators';

@Controller('health')
@ApiTags('service')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  /** 200 while the broker and the database answer; 503 when either is down. */
  @Get()
  @ApiDoc('health', 'Liveness and readiness of the broker, database and bus')
  @Answers(200, '`ok` or `degraded`.', ref('Health'))
  @Answers(503, '`down`: the broker or the database is unreachable.', ref('Health'))
  async check(@Res({ passthrough: true }) res: Response): Promise<HealthReport> {
    const report = await this.health.report();
    res.status(report.status === 'down' ? 503 : 200);
    return report;
  }
}

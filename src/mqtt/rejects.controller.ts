import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import { InvalidRequestError } from '../common/domain-error';
import type { RejectReason } from './mqtt-router';
import { REJECT_REASONS } from './mqtt-router';
import type { RejectView } from './rejects.service';
import { RejectsService } from './rejects.service';

/** Rejected MQTT messages, for inspection (bridge.md, "REST and admin"). */
@Controller('admin/rejects')
@UseGuards(AdminGuard)
export class RejectsController {
  constructor(private readonly rejects: RejectsService) {}

  /**
   * Newest first. `?limit=` (100, at most 1000), `?reason=` one of
   * REJECT_REASONS. `counts` are the totals since start-up, by reason.
   */
  @Get()
  async list(
    @Query() query: Record<string, unknown>,
  ): Promise<{ rejects: RejectView[]; counts: Record<RejectReason, number> }> {
    const problems: Record<string, string> = {};
    let limit = 100;
    if (query.limit !== undefined) {
      limit = Number(query.limit);
      if (typeof query.limit !== 'string' || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
        problems.limit = 'must be an integer from 1 to 1000';
      }
    }
    const reason = query.reason;
    if (reason !== undefined && !(REJECT_REASONS as readonly unknown[]).includes(reason)) {
      problems.reason = `must be one of ${REJECT_REASONS.join(', ')}`;
    }
    if (Object.keys(problems).length > 0) throw new InvalidRequestError(problems);
    return {
      rejects: await this.rejects.list(limit, reason as RejectReason | undefined),
      counts: this.rejects.counters(),
    };
  }
}

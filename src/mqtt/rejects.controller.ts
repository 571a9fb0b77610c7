import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/auth.guards';
import type { RejectReason } from './mqtt-router';
import type { RejectsQuery } from './rejects.dto';
import { REJECTS_QUERY } from './rejects.dto';
import type { RejectView } from './rejects.service';
import { RejectsService } from './rejects.service';
import { AdminAuth, Answers, ApiDoc, ApiTags, Invalid, ref, Unauthorized } from '../docs/api-docs.decorators';

/** Rejected MQTT messages, for inspection (bridge.md, "REST and admin"). */
@Controller('admin/rejects')
@UseGuards(AdminGuard)
@ApiTags('admin')
@AdminAuth()
export class RejectsController {
  constructor(private readonly rejects: RejectsService) {}

  /**
   * Newest first. `?limit=` (100, at most 1000), `?reason=` one of
   * REJECT_REASONS. `counts` are the totals since start-up, by reason.
   */
  @Get()
  @ApiDoc('listRejects', 'Rejected MQTT messages, newest first, with topic, reason and (capped) raw payload')
  @Answers(200, 'Rejected messages, and the totals since start-up by reason (every reason, zeros included).', {
    type: 'object',
    required: ['rejects', 'counts'],
    properties: {
      rejects: { type: 'array', items: ref('Reject') },
      counts: { type: 'object', additionalProperties: { type: 'integer' }, example: { not_json: 2, oversized: 0 } },
    },
  })
  @Invalid()
  @Unauthorized()
  async list(
    @Query({ schema: REJECTS_QUERY }) query: RejectsQuery,
  ): Promise<{ rejects: RejectView[]; counts: Record<RejectReason, number> }> {
    return {
      rejects: await this.rejects.list(query.limit, query.reason),
      counts: this.rejects.counters(),
    };
  }
}

import { randomUUID } from 'node:crypto';
import { Controller, Get, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import type { AuthedRequest } from '../auth/auth.guards';
import { ClientAuthGuard } from '../auth/auth.guards';
import type { PollQuery } from './delivery.dto';
import { POLL_QUERY } from './delivery.dto';
import { DeliveryStreamService } from './delivery-stream.service';
import type { PollAnswer } from './poll.service';
import { PollService } from './poll.service';
import {
  AnswersContent,
  ApiDoc,
  ApiParam,
  ApiTags,
  ClientAuth,
  Invalid,
  Unauthorized,
} from '../docs/api-docs.decorators';
import { POLL_RESPONSE } from '../docs/openapi.stream-schemas';

/** Browsers without a token or `client_id` are told apart by this cookie. */
const CLIENT_COOKIE = 'poll_client';

/**
 * DeviceHub's polling paths `/iot/poll/{type}/` and `/iot/poll/{type}/{id}/`.
 * "This client", for polls without a cursor, is `client_id=` when given,
 * else the token's `sub`, else a `poll_client` cookie the first answer sets.
 */
@Controller('iot/poll')
@UseGuards(ClientAuthGuard)
@ApiTags('delivery')
@ClientAuth()
export class PollController {
  constructor(
    private readonly delivery: DeliveryStreamService,
    private readonly polls: PollService,
  ) {}

  @Get([':type', ':type/:id'])
  @ApiDoc(
    'poll',
    'Poll the events of a device type (`_all`: every type) or of one device',
    'Without a cursor, the events since this client\'s previous poll of the path (its very first poll answers none and the current cursor). "This client" is `client_id`, else the token\'s `sub`, else the `poll_client` cookie.',
  )
  @ApiParam({ name: 'type', description: 'Device type (`_all` for every type).', example: 'weatherstation' })
  @AnswersContent(200, POLL_RESPONSE.description, POLL_RESPONSE.content, POLL_RESPONSE.headers)
  @Invalid()
  @Unauthorized()
  async poll(
    @Param('type') deviceType: string,
    @Param('id') deviceId: string | undefined,
    @Query({ schema: POLL_QUERY }) query: PollQuery,
    @Req() req: AuthedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PollAnswer> {
    const cursorParam = query.cursor !== undefined ? 'cursor' : 'last_event_id';
    const selection = this.delivery.select(
      {
        deviceType,
        deviceId,
        eventTypes: query.event_types,
        lastEventId: query.cursor ?? query.last_event_id,
        positionParam: cursorParam,
      },
      req.claims,
    );
    const aborted = new AbortController();
    res.on('close', () => aborted.abort());
    return this.polls.poll({
      selection,
      limit: query.limit,
      waitMs: query.wait * 1000,
      clientKey: this.clientKey(query, req, res),
      selectionKey: `${deviceType}/${deviceId ?? ''}?${[...(selection.filter.eventTypes ?? [])].sort().join(',')}`,
      signal: aborted.signal,
    });
  }

  private clientKey(query: PollQuery, req: AuthedRequest, res: Response): string {
    if (query.client_id !== undefined) return `id:${query.client_id}`;
    if (req.claims) return `sub:${req.claims.sub}`;
    const cookie = /(?:^|;\s*)poll_client=([A-Za-z0-9-]{1,64})/.exec(req.headers.cookie ?? '');
    if (cookie) return `cookie:${cookie[1]}`;
    const assigned = randomUUID();
    res.cookie(CLIENT_COOKIE, assigned, { httpOnly: true, sameSite: 'lax', path: '/iot/poll' });
    return `cookie:${assigned}`;
  }
}

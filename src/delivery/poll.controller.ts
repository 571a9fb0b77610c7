import { randomUUID } from 'node:crypto';
import { Controller, Get, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import type { AuthedRequest } from '../auth/auth.guards';
import { ClientAuthGuard } from '../auth/auth.guards';
import { DeliveryStreamService } from './delivery-stream.service';
import type { PollAnswer } from './poll.service';
import { POLL_LIMIT_DEFAULT, POLL_LIMIT_MAX, POLL_WAIT_MAX_SEC, PollService } from './poll.service';

export interface PollQuery {
  cursor?: string;
  last_event_id?: string;
  limit?: string;
  wait?: string;
  /** Repeated for a list: `event_types=data&event_types=status`. */
  event_types?: string | string[];
  client_id?: string;
}

/** Browsers without a token or `client_id` are told apart by this cookie. */
const CLIENT_COOKIE = 'poll_client';
const CLIENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * DeviceHub's polling paths `/iot/poll/{type}/` and `/iot/poll/{type}/{id}/`.
 * "This client", for polls without a cursor, is `client_id=` when given,
 * else the token's `sub`, else a `poll_client` cookie the first answer sets.
 */
@Controller('iot/poll')
@UseGuards(ClientAuthGuard)
export class PollController {
  constructor(
    private readonly delivery: DeliveryStreamService,
    private readonly polls: PollService,
  ) {}

  @Get([':type', ':type/:id'])
  async poll(
    @Param('type') deviceType: string,
    @Param('id') deviceId: string | undefined,
    @Query() query: PollQuery,
    @Req() req: AuthedRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PollAnswer> {
    const problems: Record<string, string> = {};
    const limit = boundedNumber(query.limit, POLL_LIMIT_DEFAULT, 1, POLL_LIMIT_MAX, true);
    if (limit === undefined) problems.limit = `must be an integer from 1 to ${POLL_LIMIT_MAX}`;
    const wait = boundedNumber(query.wait, 0, 0, POLL_WAIT_MAX_SEC, false);
    if (wait === undefined) problems.wait = `must be a number of seconds from 0 to ${POLL_WAIT_MAX_SEC}`;
    if (query.client_id !== undefined && !CLIENT_ID.test(query.client_id)) {
      problems.client_id = 'must be 1 to 128 letters, digits or _.:-';
    }
    const cursorParam = query.cursor !== undefined ? 'cursor' : 'last_event_id';
    const selection = this.delivery.select(
      {
        deviceType,
        deviceId,
        eventTypes: query.event_types,
        lastEventId: query.cursor ?? query.last_event_id,
        positionParam: cursorParam,
        problems,
      },
      req.claims,
    );
    const aborted = new AbortController();
    res.on('close', () => aborted.abort());
    return this.polls.poll({
      selection,
      limit: limit as number,
      waitMs: (wait as number) * 1000,
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

/** The parameter as a number within bounds, `fallback` when absent, undefined when invalid. */
function boundedNumber(
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
  integer: boolean,
): number | undefined {
  if (text === undefined || text === '') return fallback;
  if (!(integer ? /^\d{1,6}$/ : /^\d{1,6}(\.\d{1,3})?$/).test(text)) return undefined;
  const value = Number(text);
  return value >= min && value <= max ? value : undefined;
}

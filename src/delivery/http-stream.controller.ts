import { Controller, Get, Inject, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import type { AuthedRequest } from '../auth/auth.guards';
import { ClientAuthGuard } from '../auth/auth.guards';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { StreamQuery } from './delivery.dto';
import { STREAM_QUERY } from './delivery.dto';
import { DeliveryStreamService } from './delivery-stream.service';
import { Heartbeats } from './heartbeats';
import { HttpStreamSink } from './http-stream.sink';
import { negotiateFormat } from './stream-format';
import {
  AnswersContent,
  ApiDoc,
  ApiHeader,
  ApiParam,
  ApiTags,
  ClientAuth,
  Invalid,
  Unauthorized,
} from '../docs/api-docs.decorators';
import { SSE_DESCRIPTION, STREAM_CONTENT, STREAM_HEADERS } from '../docs/openapi.stream-schemas';

/**
 * DeviceHub's SSE paths `/iot/stream/{type}/` and `/iot/stream/{type}/{id}/`
 * (bridge.md, "Web delivery"), also NDJSON for `Accept: application/x-ndjson`.
 * The response is written by hand rather than by `@Sse()`: one path serves
 * two formats, keepalives are SSE comments, frames are shared between
 * connections, and the response's unsent bytes are watched for slow consumers.
 */
@Controller('iot/stream')
@UseGuards(ClientAuthGuard)
@ApiTags('delivery')
@ClientAuth()
export class HttpStreamController {
  constructor(
    private readonly delivery: DeliveryStreamService,
    private readonly heartbeats: Heartbeats,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get([':type', ':type/:id'])
  @ApiDoc(
    'stream',
    'Live events of a device type (`_all`: every type) or of one device, SSE or NDJSON',
    'Replays the events after the resume position, then continues live: no gap and no duplicate.',
  )
  @ApiParam({ name: 'type', description: 'Device type (`_all` for every type).', example: 'weatherstation' })
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description:
      'Resume after this event id; EventSource sends it on its own reconnects, and it wins over `last_event_id`.',
  })
  @AnswersContent(200, SSE_DESCRIPTION, STREAM_CONTENT, STREAM_HEADERS)
  @Invalid()
  @Unauthorized()
  stream(
    @Param('type') deviceType: string,
    @Param('id') deviceId: string | undefined,
    @Query({ schema: STREAM_QUERY }) query: StreamQuery,
    @Req() req: AuthedRequest,
    @Res() res: Response,
  ): void {
    // EventSource sends Last-Event-ID on its own reconnects, newer than the `last_event_id=` in its URL.
    const header = req.headers['last-event-id'];
    const selection = this.delivery.select(
      {
        deviceType,
        deviceId,
        eventTypes: query.event_types,
        lastEventId: typeof header === 'string' && header !== '' ? header : query.last_event_id,
        pingInterval: query.ping_interval,
      },
      req.claims,
    );
    const sink = new HttpStreamSink(res, negotiateFormat(req.headers.accept), this.config.delivery.endTimeoutMs);
    const period = selection.pingIntervalMs ?? this.config.sseKeepaliveIntervalSec * 1000;
    sink.open(selection.group, (beat) => this.heartbeats.every(period, beat));
    const untrack = this.delivery.track(sink.transport);
    const delivery = this.delivery.deliver(selection, sink);
    res.on('close', () => {
      delivery.close();
      sink.dispose();
      untrack();
    });
  }
}

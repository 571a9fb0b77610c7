import { Body, Controller, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import type { CommandRequest } from './command-sender.guard';
import { CommandSenderGuard } from './command-sender.guard';
import type { CommandBody } from './commands.dto';
import { COMMAND_BODY } from './commands.dto';
import type { CommandSender } from './commands.service';
import { CommandsService } from './commands.service';
import {
  Answers,
  ApiDoc,
  ApiParam,
  ApiSecurity,
  ApiTags,
  ClientAuth,
  Fails,
  Unauthorized,
} from '../docs/api-docs.decorators';
import { COMMAND_ANSWER, COMMAND_SENT, COMMAND_TIMEOUT } from './commands.dto';

/** The dashboard sends its commands with this header, so their events say `source: "console"`. */
export const COMMAND_SOURCE_HEADER = 'x-command-source';

/** `POST /api/devices/{type}/{id}/commands` (bridge.md, "REST and admin"). */
@Controller('api/devices')
@UseGuards(CommandSenderGuard)
@ApiTags('devices')
@ClientAuth()
@ApiSecurity('admin')
export class CommandsController {
  constructor(private readonly commands: CommandsService) {}

  /**
   * `{command, payload?, timeout?}`. Without timeout: 202 `{request_id, status: "sent"}`.
   * With it: 200 `{request_id, result}` or `{request_id, error}` as the device
   * answered, or 504 `{error: "command_timeout", request_id}`.
   */
  @Post(':type/:id/commands')
  @ApiDoc(
    'sendCommand',
    "Send a command to the device's `cmd` topic, optionally waiting for its answer",
    "Validated against the declared command of the device type. Publishes `{command, payload, request_id}` on `{prefix}/{type}/{id}/cmd` (QoS 1) and a `command` event; with `timeout` waits for the matching `cmd/response`. Needs the admin token, or a client token with the `publish` permission and the device's `cmd` channel (AUTH=off does not open it).",
  )
  @ApiParam({ name: 'type', description: 'Device type.', example: 'weatherstation' })
  @ApiParam({ name: 'id', description: 'Device id.', example: 'ws-001' })
  @Answers(200, 'The device answered (with `timeout`): its `result` or its `error`.', COMMAND_ANSWER, {
    request_id: '4f1c…',
    result: { interval: 60 },
  })
  @Answers(202, 'Sent (without `timeout`).', COMMAND_SENT)
  @Fails(400, 'Invalid body, or a command or payload the device type does not declare (`invalid_command`).')
  @Unauthorized()
  @Fails(403, "The token lacks the `publish` permission or the device's `cmd` channel.")
  @Fails(
    404,
    '`unknown_device`: the bridge never heard of the device (it becomes known when its credentials are minted, when it connects to the embedded broker with them, or when it first publishes), or it is not visible to this token.',
  )
  @Fails(503, 'The broker is unreachable, too many commands are waiting, or the service is stopping.')
  @Answers(504, 'No answer within `timeout`.', COMMAND_TIMEOUT)
  async send(
    @Req() req: CommandRequest,
    @Res({ passthrough: true }) res: Response,
    @Param('type') type: string,
    @Param('id') id: string,
    @Body({ schema: COMMAND_BODY }) body: CommandBody,
  ): Promise<Record<string, unknown>> {
    // Only `console` is recognised; anything else (or nothing) is a plain REST call.
    const source = req.headers[COMMAND_SOURCE_HEADER] === 'console' ? 'console' : 'rest';
    const outcome = await this.commands.sendAs(
      req.sender as CommandSender,
      type,
      id,
      body.command,
      body.payload ?? {},
      body.timeout,
      source,
    );
    switch (outcome.kind) {
      case 'sent':
        res.status(202);
        return { request_id: outcome.requestId, status: 'sent' };
      case 'answered':
        res.status(200);
        return { request_id: outcome.requestId, ...outcome.answer };
      case 'timeout':
        res.status(504);
        return {
          error: 'command_timeout',
          request_id: outcome.requestId,
          message: 'The device did not answer in time',
        };
    }
  }
}

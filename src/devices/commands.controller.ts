import { Body, Controller, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { BodyReader } from '../common/validate';
import type { CommandRequest } from './command-sender.guard';
import { CommandSenderGuard } from './command-sender.guard';
import type { CommandSender } from './commands.service';
import { CommandsService, MAX_COMMAND_TIMEOUT_SEC } from './commands.service';

/** Smallest accepted `timeout`, in seconds. */
const MIN_TIMEOUT_SEC = 0.1;
/** The dashboard sends its commands with this header, so their events say `source: "console"`. */
export const COMMAND_SOURCE_HEADER = 'x-command-source';

/** `POST /api/devices/{type}/{id}/commands` (bridge.md, "REST and admin"). */
@Controller('api/devices')
@UseGuards(CommandSenderGuard)
export class CommandsController {
  constructor(private readonly commands: CommandsService) {}

  /**
   * `{command, payload?, timeout?}`. Without timeout: 202 `{request_id, status: "sent"}`.
   * With it: 200 `{request_id, result}` or `{request_id, error}` as the device
   * answered, or 504 `{error: "command_timeout", request_id}`.
   */
  @Post(':type/:id/commands')
  async send(
    @Req() req: CommandRequest,
    @Res({ passthrough: true }) res: Response,
    @Param('type') type: string,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<Record<string, unknown>> {
    const r = new BodyReader(body);
    const command = r.string('command', /^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 letters, digits, _ . : or -');
    const payload = r.object('payload', true) ?? {};
    const timeout = r.number('timeout', MIN_TIMEOUT_SEC, MAX_COMMAND_TIMEOUT_SEC, true);
    r.done();
    // Only `console` is recognised; anything else (or nothing) is a plain REST call.
    const source = req.headers[COMMAND_SOURCE_HEADER] === 'console' ? 'console' : 'rest';
    const outcome = await this.commands.sendAs(
      req.sender as CommandSender,
      type,
      id,
      command as string,
      payload,
      timeout,
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

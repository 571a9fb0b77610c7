import { Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error';
import { CommandsService } from '../devices/commands.service';
import type { ErrorCode } from './signalling-frames';
import { SignallingError } from './signalling-frames';

/**
 * CommandsService's error codes as a channel publisher is told them: mapped
 * by code, once, here (issue #14, item 5), never by their HTTP status. Any
 * other code (the broker unavailable, shutting down) is `backend_error`.
 */
const CHANNEL_ERRORS: Readonly<Record<string, ErrorCode>> = {
  unknown_device: 'invalid_channel',
  invalid_command: 'malformed_message',
  invalid_request: 'malformed_message',
};

export interface CommandTarget {
  deviceType: string;
  deviceId: string;
}

/**
 * Commands from channels (bridge.md, "Signalling mirror"): a publish of
 * `{command, payload}` on `{prefix}/{type}/{id}/cmd` (or a mapped command
 * channel, issue #15) sends that command to the device, validated like the
 * REST command: over MQTT, and on its command channels by the mirror. The
 * device's answer comes back as a `command_response` event, which the mirror carries.
 */
@Injectable()
export class ChannelCommandsService {
  constructor(private readonly commands: CommandsService) {}

  /**
   * Sends the published command. Failures become per-request errors:
   * a malformed command `malformed_message`, an unknown device
   * `invalid_channel`, a broker that cannot take it `backend_error`.
   */
  async send(target: CommandTarget, data: unknown, requestId?: string): Promise<void> {
    const command =
      typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
    const payload = command?.payload ?? {};
    if (
      !command ||
      typeof command.command !== 'string' ||
      command.command === '' ||
      typeof payload !== 'object' ||
      payload === null ||
      Array.isArray(payload)
    ) {
      throw new SignallingError('malformed_message', 'a command is {"command": "name", "payload": {…}}', requestId);
    }
    try {
      await this.commands.send(
        target.deviceType,
        target.deviceId,
        command.command,
        payload as Record<string, unknown>,
        undefined,
        'signalling',
      );
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      throw new SignallingError(CHANNEL_ERRORS[err.code] ?? 'backend_error', err.message, requestId);
    }
  }
}

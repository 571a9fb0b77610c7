import type { Logger } from '@nestjs/common';
import { logUnexpected } from '../common/domain-error';
import { channelProblem, isReservedChannel } from './channel-rules';
import { SignallingClose, SignallingError } from './signalling-frames';
import type { SignallingPeer } from './signalling-peer';

/**
 * The one place failures become what the client sees: an `error` frame
 * (the connection stays open), or a close code. Unknown errors are logged
 * once with a correlation id.
 */
export function sendFailure(peer: SignallingPeer, err: unknown, requestId: string | undefined, logger: Logger): void {
  if (err instanceof SignallingError) {
    const id = err.requestId ?? requestId;
    peer.sendFrame({
      type: 'error',
      code: err.code,
      ...(id !== undefined ? { requestId: id } : {}),
      message: err.message,
    });
  } else if (err instanceof SignallingClose) {
    peer.close(err.closeCode, err.reason);
  } else {
    const correlationId = logUnexpected(logger, err);
    peer.sendFrame({
      type: 'error',
      code: 'internal_error',
      ...(requestId !== undefined ? { requestId } : {}),
      message: `internal error (correlation id ${correlationId})`,
    });
  }
}

/** A channel name a client may use (signalling-protocol.md, "Channels"), or the error it gets. */
export function checkChannel(channel: unknown, requestId?: string): string {
  const problem = channelProblem(channel);
  if (problem) throw new SignallingError('invalid_channel', problem, requestId);
  const name = channel as string;
  if (isReservedChannel(name))
    throw new SignallingError('channel_reserved', `${name.split('/')[0]}/ is reserved`, requestId);
  return name;
}

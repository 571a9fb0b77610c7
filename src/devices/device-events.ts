import type { NewEvent } from '../bus/device-event';

/** Device statuses the service itself sets (bridge.md, "MQTT (devices)"). */
export const ONLINE = 'online';
export const OFFLINE = 'offline';
/** Known (its credentials were minted) but never heard from yet (issue #13). */
export const PROVISIONING = 'provisioning';

export interface Origin {
  deviceType: string;
  deviceId: string;
  /** Device time when it sent one, else the receive time (ISO 8601). */
  timestamp: string;
  /** Server receive time (ISO 8601). */
  receivedAt: string;
  /** The device's `message_id`, on the events made from its message's content (issue #11). */
  messageId?: string;
}

function event(origin: Origin, name: string, data: Record<string, unknown>): NewEvent {
  const e: NewEvent = {
    event: name,
    device_type: origin.deviceType,
    device_id: origin.deviceId,
    data,
    timestamp: origin.timestamp,
    received_at: origin.receivedAt,
  };
  if (origin.messageId !== undefined) e.message_id = origin.messageId;
  return e;
}

export function dataEvent(origin: Origin, values: Record<string, unknown>): NewEvent {
  return event(origin, 'data', values);
}

/**
 * A `status` event: `{old_status, new_status, ...}` (bridge.md, "Events").
 * `old_status` is null for a device heard for the first time.
 */
export function statusEvent(
  origin: Origin,
  oldStatus: string | null,
  newStatus: string,
  details: Record<string, unknown> = {},
): NewEvent {
  return event(origin, 'status', { old_status: oldStatus, new_status: newStatus, ...details });
}

export function commandResponseEvent(
  origin: Origin,
  requestId: string,
  answer: { result: unknown } | { error: string },
): NewEvent {
  return event(origin, 'command_response', { request_id: requestId, ...answer });
}

/** Who sent a command, as its event says (issue #19): the REST API, the dashboard, or a signalling channel. */
export type CommandSource = 'rest' | 'console' | 'signalling';

/**
 * A `command` event: `{request_id, command, payload, source}`, and `timeout`
 * (seconds) when the sender waits for the answer, so that a reader of the
 * log can tell "no answer in time" from "not answered yet".
 */
export function commandEvent(
  origin: Origin,
  requestId: string,
  command: string,
  payload: Record<string, unknown>,
  source: CommandSource = 'rest',
  timeoutSec?: number,
): NewEvent {
  const data: Record<string, unknown> = { request_id: requestId, command, payload, source };
  if (timeoutSec !== undefined) data.timeout = timeoutSec;
  return event(origin, 'command', data);
}

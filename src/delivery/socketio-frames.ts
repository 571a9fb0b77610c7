import type { SelectionRequest } from './client-selection';

/** `subscribe` / `unsubscribe` payloads of the `/iot` namespace. */
export interface SubscribePayload {
  device_type: string;
  device_id?: string;
  last_event_id?: string;
  event_types?: string | string[];
}

/** What an acknowledgement carries: `{ok: true}` or `{error: code, message, fields?}`. */
export type SocketIoAck = { ok: true } | { error: string; message: string; fields?: Record<string, string> };

/**
 * The selection a `subscribe` asks for, with what is wrong in its shape
 * named field by field (selectClientEvents checks the values).
 */
export function subscribeRequest(payload: unknown): SelectionRequest {
  const problems: Record<string, string> = {};
  const body =
    typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : undefined;
  if (body === undefined)
    return {
      deviceType: '',
      problems: { payload: 'must be an object {device_type, device_id?, last_event_id?, event_types?}' },
    };
  const text = (field: string): string | undefined => {
    const value = body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' && field === 'last_event_id') return String(value);
    problems[field] = 'must be a string';
    return undefined;
  };
  const deviceType = text('device_type');
  if (deviceType === undefined && problems.device_type === undefined) problems.device_type = 'is required';
  let eventTypes: string | undefined;
  if (!Array.isArray(body.event_types)) eventTypes = text('event_types');
  else if (body.event_types.every((t) => typeof t === 'string')) eventTypes = body.event_types.join(',');
  else problems.event_types = 'must be a list of event names';
  return {
    deviceType: deviceType ?? '',
    deviceId: text('device_id'),
    lastEventId: text('last_event_id'),
    eventTypes,
    problems,
  };
}

/** The key a subscription is known by on its socket: one per device selection. */
export function subscriptionKey(req: Pick<SelectionRequest, 'deviceType' | 'deviceId'>): string {
  return `${req.deviceType}/${req.deviceId ?? ''}`;
}

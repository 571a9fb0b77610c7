import { ChannelMatcher, eventChannel } from '../auth/channel-pattern';
import type { ClientClaims } from '../auth/token.service';
import { InvalidRequestError } from '../common/domain-error';
import { NAME_PATTERN } from '../common/validate';
import { parseDuration } from '../config/duration';
import type { DeviceEvent, EventFilter } from '../bus/device-event';
import { encodedEvent } from '../bus/device-event';
import { WireForm } from '../bus/encoded-event';

/** `_all` in a path stands for every device type (bridge.md, "Web delivery"). */
export const ALL_TYPES = '_all';

/** What one web client asked for, on any transport. */
export interface ClientSelection {
  filter: EventFilter;
  /** Resume after this log position (Last-Event-ID, last_event_id=, cursor). */
  lastEventId?: string;
  /** When the client's token expires (ms since the epoch); the stream ends then. */
  expiresAtMs?: number;
  /** DeviceHub's group name: `iot_{type}` or `iot_{type}_{id}`. */
  group: string;
  /** `ping_interval=` of HTTP streams, in ms; undefined when not asked. */
  pingIntervalMs?: number;
}

/** `ping_interval=` bounds: often enough for any proxy, rare enough to mean something. */
const PING_MIN_MS = 1000;
const PING_MAX_MS = 3_600_000;

export interface SelectionRequest {
  deviceType: string;
  deviceId?: string;
  /** Comma-separated `event_types=` value, or several (`event_types=a&event_types=b`, as DT's client and `requests` send a list). */
  eventTypes?: string | string[];
  lastEventId?: string;
  /** `ping_interval=` (`10s`, `500ms`, bare seconds), HTTP streams only. */
  pingInterval?: string;
  /** The parameter the position came in, for error messages. @default last_event_id */
  positionParam?: string;
  /** What the transport found wrong with its own parameters, reported in the same 400. */
  problems?: Record<string, string>;
}

const channelForms = new Map<string, WireForm<string>>();

/** `eventChannel` as a wire form: computed once per event for all the connections that test it. */
function channelForm(prefix: string): WireForm<string> {
  let form = channelForms.get(prefix);
  if (form === undefined)
    channelForms.set(prefix, (form = new WireForm('channel', (e) => eventChannel(prefix, e.event))));
  return form;
}

/**
 * Validates a client's request and turns it and its token into a selection.
 * Throws InvalidRequestError naming each bad parameter.
 */
export function selectClientEvents(
  req: SelectionRequest,
  claims: ClientClaims | undefined,
  topicPrefix: string,
): ClientSelection {
  const problems: Record<string, string> = { ...req.problems };
  if (!NAME_PATTERN.test(req.deviceType)) problems.device_type = 'must be a device type or _all';
  if (req.deviceId !== undefined && !NAME_PATTERN.test(req.deviceId)) problems.device_id = 'must be a device id';
  let eventTypes: string[] | undefined;
  const eventTypesText = Array.isArray(req.eventTypes) ? req.eventTypes.join(',') : req.eventTypes;
  if (eventTypesText !== undefined && eventTypesText !== '') {
    eventTypes = eventTypesText.split(',').map((t) => t.trim());
    if (eventTypes.some((t) => !/^[A-Za-z0-9_.:-]{1,64}$/.test(t)))
      problems.event_types = 'must be a comma-separated list of event names';
  }
  if (req.lastEventId !== undefined && req.lastEventId !== '' && !/^\d{1,16}$/.test(req.lastEventId)) {
    problems[req.positionParam ?? 'last_event_id'] = 'must be an event id received earlier';
  }
  let pingIntervalMs: number | undefined;
  if (req.pingInterval !== undefined) {
    pingIntervalMs = parseDuration(req.pingInterval, 's');
    if (pingIntervalMs === undefined || pingIntervalMs < PING_MIN_MS || pingIntervalMs > PING_MAX_MS) {
      problems.ping_interval = 'must be a duration from 1s to 1h, such as 10s';
    }
  }
  if (Object.keys(problems).length > 0) throw new InvalidRequestError(problems);

  // `**` allows every channel: no per-event test at all (the usual dashboard and backend token).
  const matcher = claims && !claims.channels.includes('**') ? new ChannelMatcher(claims.channels) : undefined;
  const filter: EventFilter = {
    ...(req.deviceType === ALL_TYPES ? {} : { deviceType: req.deviceType }),
    ...(req.deviceId !== undefined ? { deviceId: req.deviceId } : {}),
    ...(eventTypes ? { eventTypes } : {}),
    ...(matcher ? { allow: allowedBy(matcher, channelForm(topicPrefix)) } : {}),
  };
  return {
    filter,
    lastEventId: req.lastEventId === '' ? undefined : req.lastEventId,
    expiresAtMs: claims ? claims.exp * 1000 : undefined,
    group: req.deviceId === undefined ? `iot_${req.deviceType}` : `iot_${req.deviceType}_${req.deviceId}`,
    ...(pingIntervalMs !== undefined ? { pingIntervalMs } : {}),
  };
}

function allowedBy(matcher: ChannelMatcher, channel: WireForm<string>): (event: DeviceEvent) => boolean {
  return (event) => matcher.matches(encodedEvent(event).wire(channel));
}

import { EncodedEvent } from './encoded-event';

/**
 * The event every client receives (bridge.md, "Events"). `id` is the event
 * log position: strictly increasing in delivery order, the resume position on
 * every transport, opaque to clients.
 */
export interface DeviceEvent {
  id: string;
  /** `data`, `status`, `command`, `command_response`, or a broadcast's custom name. */
  event: string;
  device_type: string;
  device_id: string;
  data: Record<string, unknown>;
  /** Device time when it sent one, else the server's receive time (ISO 8601). */
  timestamp: string;
  /** Server receive time (ISO 8601). */
  received_at: string;
  /** The `message_id` the device put in its payload, on every event made from that message (issue #11). */
  message_id?: string;
}

/** An event before the log has given it a position. */
export interface NewEvent extends Omit<DeviceEvent, 'id'> {
  /**
   * Set on the first event made from a device message that carried
   * `message_id`; the message's other events follow it, with the same
   * `message_id`. The log writes the message's events only when that
   * device and `message_id` are not in the log already (a redelivery).
   * Not part of the event clients receive.
   */
  opensMessage?: boolean;
}

/** Which events a subscriber wants; every field narrows, none means all. */
export interface EventFilter {
  deviceType?: string;
  deviceId?: string;
  eventTypes?: readonly string[];
  /** Extra test, for example a token's channel claims. */
  allow?: (event: DeviceEvent) => boolean;
}

/** What a resumable stream yields: events, or a notice that the asked position is gone. */
export type StreamItem =
  | { kind: 'event'; event: DeviceEvent }
  | {
      kind: 'reset';
      /** The position the client asked to resume after. */
      requested: string;
      /** Events after this position are still in the log. */
      retainedAfter: string;
    };

export function matchesFilter(event: DeviceEvent, filter: EventFilter): boolean {
  if (filter.deviceType !== undefined && filter.deviceType !== event.device_type) return false;
  if (filter.deviceId !== undefined && filter.deviceId !== event.device_id) return false;
  if (filter.eventTypes !== undefined && !filter.eventTypes.includes(event.event)) return false;
  return filter.allow === undefined || filter.allow(event);
}

/**
 * An event the log has just positioned. Built field by field, every one
 * has the same shape (a `{ id, ...event }` copy went through V8's slow
 * generic path). Its EncodedEvent is kept in a private field, which
 * neither JSON.stringify nor a spread copy sees.
 */
export class PositionedEvent implements DeviceEvent {
  readonly id: string;
  readonly event: string;
  readonly device_type: string;
  readonly device_id: string;
  readonly data: Record<string, unknown>;
  readonly timestamp: string;
  readonly received_at: string;
  readonly message_id: string | undefined;
  #encoded: EncodedEvent | undefined = undefined;

  constructor(id: string, e: NewEvent) {
    this.id = id;
    this.event = e.event;
    this.device_type = e.device_type;
    this.device_id = e.device_id;
    this.data = e.data;
    this.timestamp = e.timestamp;
    this.received_at = e.received_at;
    // Always set, so every instance has the same shape; JSON leaves it out when undefined.
    this.message_id = e.message_id;
  }

  static encoded(event: DeviceEvent): EncodedEvent | undefined {
    return #encoded in event ? (event.#encoded ??= new EncodedEvent(event)) : undefined;
  }
}

/**
 * Events this instance did not position (read back from the log, or from
 * Redis) are plain objects: theirs are kept here, for as long as the event lives.
 */
const encodedPlain = new WeakMap<DeviceEvent, EncodedEvent>();

/**
 * The one EncodedEvent of an event: its JSON and every wire form, shared by
 * the log, the Redis fan-out and all transports. A copy (`{ ...event }`)
 * is another event with its own.
 */
export function encodedEvent(event: DeviceEvent): EncodedEvent {
  const positioned = PositionedEvent.encoded(event);
  if (positioned !== undefined) return positioned;
  let encoded = encodedPlain.get(event);
  if (encoded === undefined) encodedPlain.set(event, (encoded = new EncodedEvent(event)));
  return encoded;
}

/** The event's JSON, computed once (`encodedEvent(event).json`). */
export function eventJson(event: DeviceEvent): string {
  return encodedEvent(event).json;
}

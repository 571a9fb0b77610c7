import type { NewEvent } from './device-event';

/**
 * Device messages in a batch of events (issue #11, item 3): a message that
 * carried `message_id` is its opening event (`opensMessage`) and the events
 * right after it with the same `message_id` (more samples of one payload).
 * The log writes a message once per device and `message_id`.
 */

/** One message's identity in the log. */
export interface MessageKey {
  messageId: string;
  deviceType: string;
  deviceId: string;
}

/** Device types and ids never hold NUL (NAME_PATTERN), so this text names one key only. */
export const keyText = (k: MessageKey): string => `${k.deviceType}\u0000${k.deviceId}\u0000${k.messageId}`;

const opens = (e: NewEvent): e is NewEvent & { message_id: string } =>
  e.opensMessage === true && e.message_id !== undefined;

/** An event that belongs to the message opened before it. */
const follows = (e: NewEvent): boolean => e.message_id !== undefined && e.opensMessage !== true;

/** The messages the events open; empty when none does (such batches skip the look-up). */
export function openedMessages(events: readonly NewEvent[]): MessageKey[] {
  const keys: MessageKey[] = [];
  for (const e of events)
    if (opens(e)) keys.push({ messageId: e.message_id, deviceType: e.device_type, deviceId: e.device_id });
  return keys;
}

/**
 * Which events to write: not those of a message whose key is `logged`, nor
 * of a message opened again later in the same batch (a redelivery that
 * came in while the first delivery was waiting for the log).
 */
export function freshEvents(events: readonly NewEvent[], logged: ReadonlySet<string>): boolean[] {
  const seen = new Set<string>();
  let current = true;
  return events.map((e) => {
    if (opens(e)) {
      const key = keyText({ messageId: e.message_id, deviceType: e.device_type, deviceId: e.device_id });
      current = !logged.has(key) && !seen.has(key);
      seen.add(key);
      return current;
    }
    return follows(e) ? current : true;
  });
}

/** A split point at or after `at` that does not cut a message in two (`events.length` when none is left). */
export function messageBoundary(events: readonly NewEvent[], at: number): number {
  let cut = at;
  while (cut < events.length && follows(events[cut])) cut++;
  if (cut < events.length) return cut;
  // The tail is one message: cut before it instead.
  cut = at;
  while (cut > 0 && follows(events[cut])) cut--;
  return cut;
}

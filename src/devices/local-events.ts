import type { NewEvent } from '../bus/device-event';

/**
 * Events this instance produced, recognised on the bus by their `data` object:
 * the bus positions events by copying them shallowly, so `data` is the same
 * object in the committed batch, while events of other instances (REDIS_URL,
 * issue #5) arrive parsed from JSON. The writer persists only local events, so
 * several instances sharing one database never store a reading twice.
 */
const local = new WeakSet<object>();

export function markLocal(events: readonly NewEvent[]): void {
  for (const e of events) local.add(e.data);
}

export function isLocal(event: { data: object }): boolean {
  return local.has(event.data);
}

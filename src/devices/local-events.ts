import type { NewEvent } from '../bus/device-event';

/**
 * Events this instance produced, recognised on the bus by their `data` object:
 * the bus positions events by copying them shallowly, so `data` is the same
 * object in the committed batch, while events of other instances (REDIS_URL,
 * issue #5) arrive parsed from JSON. The writer persists only local events, so
 * several instances sharing one database never store a reading twice.
 */
const LOCAL = Symbol('local');

export function markLocal(events: readonly NewEvent[]): void {
  // A symbol, not enumerable: JSON and copies of `data` leave it behind; cheaper than a WeakSet entry.
  for (const e of events) if (!isLocal(e)) Object.defineProperty(e.data, LOCAL, { value: true });
}

export function isLocal(event: { data: object }): boolean {
  return (event.data as { [LOCAL]?: true })[LOCAL] === true;
}

import type { DeviceEvent } from './device-event';

/**
 * One way of putting an event on a wire: a WebSocket text frame, an SSE
 * frame, an NDJSON line, a signalling channel name. Each transport defines
 * its forms once, at module load; every form has its own slot in each
 * EncodedEvent, so it is built at most once per event however many
 * connections send it.
 */
export class WireForm<T> {
  private static slots = 0;
  /** This form's place in every EncodedEvent. */
  readonly slot = WireForm.slots++;

  constructor(
    readonly name: string,
    readonly encode: (encoded: EncodedEvent) => T,
  ) {}
}

/**
 * An event with everything made from it for the wire, built lazily and
 * once: its JSON (the log's body, the Redis fan-out, every transport's
 * payload), each WireForm a transport asks for, and which transports have
 * timed it for the ingest-to-send histogram. One per event (see
 * `encodedEvent` in device-event.ts), shared by every connection.
 */
export class EncodedEvent {
  private text: string | undefined = undefined;
  private readonly wires: unknown[] = [];
  private sentOn = 0;

  constructor(readonly event: DeviceEvent) {}

  /** `JSON.stringify(event)`, computed once. */
  get json(): string {
    return (this.text ??= JSON.stringify(this.event));
  }

  /** The event in `form`, encoded on first use and kept. */
  wire<T>(form: WireForm<T>): T {
    let wire = this.wires[form.slot] as T | undefined;
    if (wire === undefined) {
      wire = form.encode(this);
      this.wires[form.slot] = wire;
    }
    return wire;
  }

  /** True the first time it is asked for `bit` (one bit per transport), false after. */
  firstSendOn(bit: number): boolean {
    if ((this.sentOn & bit) !== 0) return false;
    this.sentOn |= bit;
    return true;
  }
}

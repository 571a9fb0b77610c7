import type { Socket } from 'socket.io';
import type { WebSocket } from 'ws';
import type { EncodedEvent } from '../bus/encoded-event';
import type { DeliverySink, EndReason } from './delivery-sink';
import { END_MESSAGES } from './delivery-sink';

/** Names socket.io keeps for itself; device events so named arrive as `device_event` instead. */
const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
export const RESERVED_EVENT_FALLBACK = 'device_event';

/**
 * One socket.io subscription (`subscribe {device_type, device_id?}`).
 * Events are emitted under their `event` name. The send buffer is the
 * socket's: engine.io's packet queue plus what its WebSocket still holds;
 * when a stream ends, the whole socket is told why and disconnected.
 */
export class SocketIoSink implements DeliverySink {
  readonly transport = 'socketio' as const;

  constructor(
    private readonly socket: Socket,
    private readonly subscription: { device_type: string; device_id?: string },
  ) {}

  bufferedBytes(): number {
    const conn = this.socket.conn;
    let bytes = 0;
    // engine.io keeps packets here while its transport is busy (private in its types, stable since 3.x).
    for (const packet of (conn as unknown as { writeBuffer: { data?: unknown }[] }).writeBuffer) {
      const data: unknown = packet.data;
      if (typeof data === 'string') bytes += data.length;
      else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) bytes += data.byteLength;
    }
    const ws = (conn.transport as unknown as { socket?: WebSocket }).socket;
    if (conn.transport.name === 'websocket' && ws !== undefined) bytes += ws.bufferedAmount;
    return bytes;
  }

  event({ event }: EncodedEvent): void {
    this.socket.emit(RESERVED.has(event.event) ? RESERVED_EVENT_FALLBACK : event.event, event);
  }

  reset(requested: string, lastEventId: string): void {
    this.socket.emit('reset', {
      event: 'reset',
      reset: true,
      requested,
      last_event_id: lastEventId,
      ...this.subscription,
    });
  }

  end(reason: EndReason, lastEventId: string | undefined): void {
    if (!this.socket.connected) return;
    this.socket.emit(reason, {
      event: reason,
      error: reason,
      message: END_MESSAGES[reason],
      last_event_id: lastEventId ?? null,
      ...this.subscription,
    });
    this.socket.disconnect(true);
  }
}

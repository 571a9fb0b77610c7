import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { EncodedEvent } from '../bus/encoded-event';
import { PreEncodedWriter } from '../common/websocket-frame';
import type { DeliverySink, EndReason } from './delivery-sink';
import { endJson, resetJson } from './stream-format';
import { END_CLOSE, WS_EVENT_FRAME } from './ws-frames';

/**
 * One raw WebSocket client. Events go out as frames built once per event
 * (`WS_EVENT_FRAME`), written to the upgraded socket as they are
 * (PreEncodedWriter); everything else goes through `ws`.
 */
export class WsSink implements DeliverySink {
  readonly transport = 'ws' as const;
  private readonly writer: PreEncodedWriter;

  constructor(
    private readonly ws: WebSocket,
    raw: Duplex,
    private readonly endTimeoutMs: number,
  ) {
    this.writer = new PreEncodedWriter(ws, raw);
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  event(event: EncodedEvent): void {
    this.writer.write(event.wire(WS_EVENT_FRAME));
  }

  reset(requested: string, lastEventId: string): void {
    this.ws.send(resetJson(requested, lastEventId));
  }

  end(reason: EndReason, lastEventId: string | undefined): void {
    // A slow consumer's buffer is full already: it gets the close code only.
    if (reason !== 'slow_consumer' && this.ws.readyState === this.ws.OPEN) this.ws.send(endJson(reason, lastEventId));
    const { code, reason: text } = END_CLOSE[reason];
    this.ws.close(code, text);
    // `ws` gives up on the close handshake after its own 30 s; STREAM_END_TIMEOUT bounds it like HTTP streams.
    const timer = setTimeout(() => this.ws.terminate(), this.endTimeoutMs);
    timer.unref();
    this.ws.once('close', () => clearTimeout(timer));
  }
}

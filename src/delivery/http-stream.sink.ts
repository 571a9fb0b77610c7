import type { Response } from 'express';
import type { EncodedEvent } from '../bus/encoded-event';
import type { DeliverySink, EndReason } from './delivery-sink';
import type { StreamFormat } from './stream-format';

/**
 * One SSE or NDJSON response. Writes go straight to the response; Node's
 * HTTP layer corks the socket for the rest of the tick, so a batch of
 * events leaves in one write. `bufferedBytes` is what the response and its
 * socket still hold unsent.
 */
export class HttpStreamSink implements DeliverySink {
  readonly transport: StreamFormat['name'];
  private stopBeating: (() => void) | undefined;

  constructor(
    private readonly res: Response,
    private readonly format: StreamFormat,
    private readonly endTimeoutMs: number,
  ) {
    this.transport = format.name;
  }

  /** Sends the headers and the `connected` frame at once, so the client knows it is subscribed. */
  open(group: string, heartbeat: (beat: () => void) => () => void): void {
    const res = this.res;
    res.status(200);
    res.setHeader('Content-Type', this.format.contentType);
    res.setHeader('Cache-Control', 'no-cache');
    // nginx and other proxies must pass each event on as it comes.
    res.setHeader('X-Accel-Buffering', 'no');
    res.setHeader('Connection', 'keep-alive');
    res.socket?.setNoDelay(true);
    res.write(this.format.connected(group));
    this.stopBeating = heartbeat(() => res.write(this.format.keepalive()));
  }

  bufferedBytes(): number {
    return this.res.writableLength;
  }

  event(event: EncodedEvent): void {
    this.res.write(this.format.event(event));
  }

  reset(requested: string, lastEventId: string): void {
    this.res.write(this.format.reset(requested, lastEventId));
  }

  end(reason: EndReason, lastEventId: string | undefined): void {
    this.dispose();
    const res = this.res;
    res.end(this.format.end(reason, lastEventId));
    // A client that stopped reading takes neither the last words nor what is queued before them: the
    // response never finishes and the socket would stay open, its buffers full, for as long as the client
    // lives. A reset drops what the kernel holds for it too.
    const socket = res.socket;
    if (res.writableFinished || socket === null) return;
    const timer = setTimeout(() => {
      if (!socket.destroyed) socket.resetAndDestroy();
    }, this.endTimeoutMs);
    timer.unref();
    res.once('close', () => clearTimeout(timer));
  }

  /** The client left: no more heartbeats. */
  dispose(): void {
    this.stopBeating?.();
    this.stopBeating = undefined;
  }
}

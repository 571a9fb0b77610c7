import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OnModuleDestroy } from '@nestjs/common';
import { Inject, Logger } from '@nestjs/common';
import type { OnGatewayConnection, OnGatewayInit } from '@nestjs/websockets';
import { WebSocketGateway } from '@nestjs/websockets';
import type { RawData, WebSocket } from 'ws';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { logUnexpected } from '../common/domain-error';
import type { RawWsGatewayOptions, RawWsServer } from '../common/gateway.adapter';
import { emptyAnswer } from '../common/gateway.adapter';
import { jsonTextProblem } from '../common/json-limits';
import { PreEncodedWriter, closeWithin } from '../common/websocket-frame';
import { PeerLimits } from './connection-limits';
import { SignallingAuthService } from './signalling-auth.service';
import type { ClientFrame } from './signalling-frames';
import { CloseCode, SignallingClose, SignallingError, parseClientFrame, requestIdOf } from './signalling-frames';
import { SignallingHubService } from './signalling-hub.service';
import type { PeerSocket, SignallingPeer } from './signalling-peer';

export const SIGNALLING_PATH = '/v1';
/**
 * `maxMessageSize` bounds a frame's `data`, as the SDK measures it before
 * sending; the envelope around it (type, a 256-byte channel, a 128-char
 * requestId, JSON escapes) may add this much on top.
 */
export const ENVELOPE_ALLOWANCE = 2048;
/** RFC 6455's close code for an unexpected failure on the server. */
const INTERNAL_ERROR = 1011;
/** How long shutdown waits for peers to answer the close handshake. */
const CLOSE_WAIT_MS = 2000;

/**
 * The WebSocket edge of signalling at `/v1` on the shared HTTP server,
 * through GatewayAdapter: refuses upgrades during shutdown, authenticates
 * after the handshake (close codes), applies the per-connection limits,
 * parses frames and hands each to the hub; maps failures to `error` frames
 * and close codes once, here.
 */
@WebSocketGateway<RawWsGatewayOptions>({
  transport: 'ws',
  path: SIGNALLING_PATH,
  owns: (pathname) => pathname === SIGNALLING_PATH,
})
export class SignallingGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
  private readonly logger = new Logger('Signalling');
  private readonly sockets = new Set<WebSocket>();
  private stopping = false;

  constructor(
    private readonly auth: SignallingAuthService,
    private readonly hub: SignallingHubService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  afterInit(server: RawWsServer): void {
    // Oversized frames are closed with 1009 by `ws` itself.
    server.maxPayload = this.config.maxMessageSize + ENVELOPE_ALLOWANCE;
    server.admit = () => (this.stopping ? emptyAnswer('503 Service Unavailable', 'Retry-After: 1\r\n') : undefined);
  }

  /** Shutdown (issue #4): `going_away` and 1001 to every peer, then a short wait for their close. */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    this.hub.goAway();
    await closeWithin(this.sockets, CLOSE_WAIT_MS);
  }

  handleConnection(ws: WebSocket, req: IncomingMessage): void {
    // Errors (an oversized frame, bad UTF-8) are answered by `ws` with a close code; nothing else to do.
    ws.on('error', (err) => this.logger.debug(`socket error: ${err.message}`));
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    let peer: SignallingPeer;
    try {
      const { identity, keyLimit } = this.auth.admit(query, req.headers.origin);
      peer = this.hub.connect(identity, adapt(ws, req.socket), keyLimit, req.socket.remoteAddress);
    } catch (err) {
      if (err instanceof SignallingClose) return ws.close(err.closeCode, err.reason);
      const id = logUnexpected(this.logger, err);
      return ws.close(INTERNAL_ERROR, `internal error (correlation id ${id})`);
    }
    this.sockets.add(ws);

    const limits = new PeerLimits(peer, () => ws.ping());
    limits.start();
    ws.on('pong', () => limits.heard());
    ws.on('ping', () => limits.heard());
    ws.on('message', (data, isBinary) => {
      if (peer.isClosed || !limits.admit()) return;
      this.receive(peer, data, isBinary);
    });
    ws.on('close', () => {
      limits.stop();
      this.sockets.delete(ws);
      this.hub.disconnect(peer);
    });
  }

  private receive(peer: SignallingPeer, data: RawData, isBinary: boolean): void {
    const max = this.config.maxMessageSize;
    const bytes = data as Buffer;
    // Size comes first (issue #18): a frame over maxMessageSize closes with 1009 whatever else is wrong
    // with it, unless it is a publish or send whose data fits (the envelope allowance).
    const tooBig = (): void => peer.close(CloseCode.MessageTooBig, `message over ${max} bytes`);
    const oversized = bytes.length > max;
    let frame: ClientFrame | undefined;
    try {
      if (isBinary) {
        if (oversized) return tooBig();
        throw new SignallingError('malformed_message', 'frames must be JSON text');
      }
      // Depth and keys on the raw bytes, before anything parses or walks them.
      const overLimits = jsonTextProblem(bytes, this.config.json);
      const text = bytes.toString('utf8');
      if (overLimits !== undefined) {
        if (oversized) return tooBig();
        throw new SignallingError('malformed_message', overLimits.message, requestIdOf(text));
      }
      try {
        frame = parseClientFrame(text);
      } catch (err) {
        if (oversized) return tooBig();
        throw err;
      }
      if (oversized && dataBytes(frame) > max) return tooBig();
      this.hub.handle(peer, frame);
    } catch (err) {
      this.hub.fail(peer, err, frame?.requestId);
    }
  }
}

/** What a frame's `data` weighs as the SDK measures it; frames without data weigh their all. */
function dataBytes(frame: ClientFrame): number {
  if (frame.type === 'publish' || frame.type === 'send') return Buffer.byteLength(JSON.stringify(frame.data) ?? '');
  return Number.POSITIVE_INFINITY;
}

/**
 * A peer's socket. Frames arrive as complete WebSocket frames built once per
 * message (`OutboundFrame.wire`) and are written to the upgraded socket as
 * they are (PreEncodedWriter): fan-out costs one write per recipient.
 */
function adapt(ws: WebSocket, raw: Duplex): PeerSocket {
  const writer = new PreEncodedWriter(ws, raw);
  return {
    send: (frame) => writer.write(frame.wire),
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
}

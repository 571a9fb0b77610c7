import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { RawData, WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { jsonTextProblem } from '../common/json-limits';
import { UpgradeRouter } from '../common/upgrade-router';
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
/** How long shutdown waits for peers to answer the close handshake. */
const CLOSE_WAIT_MS = 2000;

/**
 * The WebSocket edge of signalling at `/v1` on the shared HTTP server:
 * authenticates the upgrade, applies the per-connection limits, parses
 * frames and hands each to the hub; maps failures to `error` frames and
 * close codes once, here.
 */
@Injectable()
export class SignallingGateway implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Signalling');
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private stopping = false;

  constructor(
    private readonly router: UpgradeRouter,
    private readonly auth: SignallingAuthService,
    private readonly hub: SignallingHubService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    // Oversized frames are closed with 1009 by `ws` itself.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.maxMessageSize + ENVELOPE_ALLOWANCE,
      clientTracking: false,
    });
  }

  onModuleInit(): void {
    this.router.register((pathname) => pathname === SIGNALLING_PATH, this.upgrade);
  }

  /** Shutdown (issue #4): `going_away` and 1001 to every peer, then a short wait for their close. */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    this.hub.goAway();
    const open = [...this.sockets];
    await Promise.race([
      Promise.all(
        open.map(
          (ws) => new Promise<void>((done) => (ws.readyState === ws.CLOSED ? done() : ws.once('close', () => done()))),
        ),
      ),
      new Promise<void>((done) => setTimeout(done, CLOSE_WAIT_MS).unref()),
    ]);
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
  }

  private readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.stopping) {
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, socket));
  };

  private accept(ws: WebSocket, req: IncomingMessage, raw: Duplex): void {
    // Errors (an oversized frame, bad UTF-8) are answered by `ws` with a close code; nothing else to do.
    ws.on('error', (err) => this.logger.debug(`socket error: ${err.message}`));
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    let peer: SignallingPeer;
    try {
      const { identity, keyLimit } = this.auth.admit(query, req.headers.origin);
      peer = this.hub.connect(identity, adapt(ws, raw), keyLimit, req.socket.remoteAddress);
    } catch (err) {
      if (err instanceof SignallingClose) return ws.close(err.closeCode, err.reason);
      throw err;
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
 * message and are written to the upgraded TCP socket as they are: fan-out
 * then costs one write per recipient and no per-recipient framing. `ws`
 * still owns reading, pings and the close handshake; without
 * permessage-deflate it writes its own frames synchronously to the same
 * socket, so frames never interleave, and nothing is written once it closes.
 */
function adapt(ws: WebSocket, raw: Duplex): PeerSocket {
  return {
    send: (frame) => {
      if (ws.readyState === ws.OPEN) raw.write(frame.wire);
    },
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
}

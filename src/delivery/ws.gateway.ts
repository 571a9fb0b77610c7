import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { BeforeApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { credentialFromRequest, tokenFromRequest } from '../auth/auth.guards';
import { OriginPolicy, refuseUpgrade } from '../auth/origin-policy';
import type { ClientClaims } from '../auth/token.service';
import { TokenService } from '../auth/token.service';
import { DomainError, logUnexpected } from '../common/domain-error';
import { JsonLimitError } from '../common/json-limits';
import { UpgradeRouter } from '../common/upgrade-router';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { ClientSelection } from './client-selection';
import { DeliveryStreamService } from './delivery-stream.service';
import { WsSink } from './ws.sink';
import { MalformedFrameError, WsCloseCode, encodeWsFrame, parseWsClientFrame, parseWsPath } from './ws-frames';

/** The server pings every connection this often; one that has not answered the previous ping is dropped. */
const PING_INTERVAL_MS = 30_000;
/** How long shutdown waits for clients to answer the close handshake. */
const CLOSE_WAIT_MS = 2000;

/**
 * DeviceHub's raw WebSocket paths `/ws/iot/{type}/` and `/ws/iot/{type}/{id}/`
 * (bridge.md, "Web delivery"), on the shared HTTP port. Authenticates the
 * upgrade, then hands the connection to the delivery stream; answers
 * `{"action":"ping"}` with `{"event":"pong"}` and anything else with an
 * `error` frame, keeping the connection.
 */
@Injectable()
export class WsGateway implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('WebSocket');
  private readonly wss: WebSocketServer;
  private readonly alive = new Map<WebSocket, boolean>();
  private pinger: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(
    private readonly router: UpgradeRouter,
    private readonly tokens: TokenService,
    private readonly delivery: DeliveryStreamService,
    private readonly origins: OriginPolicy,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    // Oversized client frames are closed with 1009 by `ws` itself.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageSize, clientTracking: false });
  }

  onModuleInit(): void {
    this.router.register((pathname) => pathname.startsWith('/ws/iot/'), this.upgrade);
    this.pinger = setInterval(() => this.pingAll(), PING_INTERVAL_MS);
    this.pinger.unref();
  }

  /**
   * After the delivery streams have ended with `going_away` (1001), waits
   * briefly for the close handshakes, then drops what is left, so the HTTP
   * server is not held open by upgraded sockets.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.pinger);
    await this.delivery.goAway();
    const open = [...this.alive.keys()];
    for (const ws of open) ws.close(WsCloseCode.GoingAway, 'going away: resume with last_event_id');
    await Promise.race([
      Promise.all(
        open.map(
          (ws) => new Promise<void>((done) => (ws.readyState === ws.CLOSED ? done() : ws.once('close', () => done()))),
        ),
      ),
      new Promise<void>((done) => setTimeout(done, CLOSE_WAIT_MS).unref()),
    ]);
    for (const ws of this.alive.keys()) ws.terminate();
    this.wss.close();
  }

  private readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = parseWsPath(url.pathname);
    if (path === undefined || this.stopping) {
      const status = path === undefined ? '404 Not Found' : '503 Service Unavailable';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    // A page of another origin riding on the cookie gets no WebSocket at all (issue #18, item 6).
    const refusal = this.origins.refusal(req.headers, credentialFromRequest(req)?.from === 'cookie');
    if (refusal !== undefined) return refuseUpgrade(socket, refusal);
    // Other refusals come after the handshake, as close codes: a browser never sees an HTTP status.
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, socket, path, url.searchParams));
  };

  private accept(
    ws: WebSocket,
    req: IncomingMessage,
    raw: Duplex,
    path: { deviceType: string; deviceId?: string },
    query: URLSearchParams,
  ): void {
    ws.on('error', (err) => this.logger.debug(`socket error: ${err.message}`));
    let selection: ClientSelection;
    try {
      const claims = this.authenticate(req);
      selection = this.delivery.select(
        {
          ...path,
          eventTypes: query.get('event_types') ?? undefined,
          lastEventId: query.get('last_event_id') ?? undefined,
        },
        claims,
      );
    } catch (err) {
      if (!(err instanceof DomainError)) {
        const id = logUnexpected(this.logger, err);
        return ws.close(WsCloseCode.InternalError, `internal error (correlation id ${id})`);
      }
      if (err.status === 401) return ws.close(WsCloseCode.Unauthorized, err.message.slice(0, 120));
      ws.send(encodeWsFrame({ event: 'error', error: 'invalid_request', message: err.message, fields: err.fields }));
      return ws.close(WsCloseCode.InvalidRequest, 'invalid request');
    }
    this.alive.set(ws, true);
    const untrack = this.delivery.track('ws');
    const delivery = this.delivery.deliver(selection, new WsSink(ws, raw, this.config.delivery.endTimeoutMs));
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('message', (data, isBinary) => {
      this.alive.set(ws, true);
      // A client that sends but never reads must not grow its answers without bound either.
      if (ws.bufferedAmount > this.config.delivery.sendBufferBytes) return delivery.finish('slow_consumer');
      try {
        parseWsClientFrame(data, isBinary, this.config.json);
        ws.send(encodeWsFrame({ event: 'pong' }));
      } catch (err) {
        if (err instanceof MalformedFrameError) {
          ws.send(encodeWsFrame({ event: 'error', error: 'malformed_frame', message: err.message }));
        } else if (err instanceof JsonLimitError) {
          ws.send(encodeWsFrame({ event: 'error', error: err.code, message: err.message }));
        } else {
          const message = `internal error (correlation id ${logUnexpected(this.logger, err)})`;
          ws.send(encodeWsFrame({ event: 'error', error: 'internal_error', message }));
        }
      }
    });
    ws.on('close', () => {
      this.alive.delete(ws);
      delivery.close();
      untrack();
    });
  }

  /** The client's claims; undefined with `AUTH=off` and no token. Throws a 401 DomainError otherwise. */
  private authenticate(req: IncomingMessage): ClientClaims | undefined {
    const token = tokenFromRequest(req);
    if (token !== undefined) return this.tokens.verify(token);
    if (!this.config.auth.required) return undefined;
    throw new DomainError('missing_token', 'a token is required (?token=, Authorization: Bearer, or cookie)', 401);
  }

  /** One timer for every connection: ping those that answered the last ping, drop those that did not. */
  private pingAll(): void {
    for (const [ws, answered] of this.alive) {
      if (!answered) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
  }
}

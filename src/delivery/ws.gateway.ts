import type { IncomingMessage } from 'node:http';
import type { BeforeApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Inject, Logger } from '@nestjs/common';
import type { OnGatewayConnection, OnGatewayInit } from '@nestjs/websockets';
import { WebSocketGateway } from '@nestjs/websockets';
import type { RawData, WebSocket } from 'ws';
import { credentialFromRequest } from '../auth/auth.guards';
import { DomainError, logUnexpected } from '../common/domain-error';
import type { RawWsGatewayOptions, RawWsServer, UpgradeRefusal } from '../common/gateway.adapter';
import { emptyAnswer, jsonAnswer } from '../common/gateway.adapter';
import { JsonLimitError } from '../common/json-limits';
import { closeWithin } from '../common/websocket-frame';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import { ClientAuth } from './client-auth';
import type { Delivery } from './delivery-sink';
import { DeliveryStreamService } from './delivery-stream.service';
import { WsSink } from './ws.sink';
import type { WsServerFrame } from './ws-frames';
import { MalformedFrameError, WsCloseCode, encodeWsFrame, parseWsClientFrame, parseWsPath } from './ws-frames';

/** The server pings every connection this often; one that has not answered the previous ping is dropped. */
const PING_INTERVAL_MS = 30_000;
/** How long shutdown waits for clients to answer the close handshake. */
const CLOSE_WAIT_MS = 2000;

/** Domain errors that close the socket with a code of their own, by error code; the rest are 4400 after an `error` frame. */
const CLOSE_CODE_OF: Partial<Record<string, number>> = {
  missing_token: WsCloseCode.Unauthorized,
  invalid_token: WsCloseCode.Unauthorized,
  token_expired: WsCloseCode.Unauthorized,
};

/**
 * DeviceHub's raw WebSocket paths `/ws/iot/{type}/` and `/ws/iot/{type}/{id}/`
 * (bridge.md, "Web delivery"), on the shared HTTP port through
 * GatewayAdapter. Refuses other paths, other origins riding on the cookie
 * and upgrades during shutdown before the handshake; authenticates after
 * it (a browser never sees an HTTP status), then hands the connection to
 * the delivery stream. Answers `{"action":"ping"}` with `{"event":"pong"}`
 * and anything else with an `error` frame, keeping the connection.
 */
@WebSocketGateway<RawWsGatewayOptions>({
  transport: 'ws',
  path: '/ws/iot/',
  owns: (pathname) => pathname.startsWith('/ws/iot/'),
})
export class WsGateway implements OnGatewayInit, OnGatewayConnection, OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('WebSocket');
  private readonly alive = new Map<WebSocket, boolean>();
  private pinger: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(
    private readonly auth: ClientAuth,
    private readonly delivery: DeliveryStreamService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  afterInit(server: RawWsServer): void {
    // Oversized client frames are closed with 1009 by `ws` itself.
    server.maxPayload = this.config.maxMessageSize;
    server.admit = (req) => this.admit(req);
  }

  onModuleInit(): void {
    this.pinger = setInterval(() => this.pingAll(), PING_INTERVAL_MS);
    this.pinger.unref();
  }

  /**
   * After the delivery streams have ended with `going_away` (1001), waits
   * briefly for the close handshakes, then drops what is left.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.pinger);
    await this.delivery.goAway();
    for (const ws of this.alive.keys()) ws.close(WsCloseCode.GoingAway, 'going away: resume with last_event_id');
    await closeWithin(this.alive.keys(), CLOSE_WAIT_MS);
  }

  handleConnection(ws: WebSocket, req: IncomingMessage): void {
    ws.on('error', (err) => this.logger.debug(`socket error: ${err.message}`));
    try {
      this.accept(ws, req);
    } catch (err) {
      this.refuse(ws, err);
    }
  }

  /** Before the handshake: the path, shutdown and the origin policy. */
  private admit(req: IncomingMessage): UpgradeRefusal | undefined {
    const path = parseWsPath(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === undefined) return emptyAnswer('404 Not Found');
    if (this.stopping) return emptyAnswer('503 Service Unavailable');
    const refusal = this.auth.originRefusal(req.headers, credentialFromRequest(req));
    return refusal === undefined ? undefined : jsonAnswer('403 Forbidden', 'origin_not_allowed', refusal);
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = parseWsPath(url.pathname) ?? { deviceType: '' };
    const claims = this.auth.claims(
      req.headers,
      credentialFromRequest(req),
      '(?token=, Authorization: Bearer, or cookie)',
    );
    const selection = this.delivery.select(
      {
        ...path,
        eventTypes: url.searchParams.get('event_types') ?? undefined,
        lastEventId: url.searchParams.get('last_event_id') ?? undefined,
      },
      claims,
    );
    this.alive.set(ws, true);
    const untrack = this.delivery.track('ws');
    const delivery = this.delivery.deliver(selection, new WsSink(ws, req.socket, this.config.delivery.endTimeoutMs));
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('message', (data, isBinary) => this.receive(ws, delivery, data, isBinary));
    ws.on('close', () => {
      this.alive.delete(ws);
      delivery.close();
      untrack();
    });
  }

  /** A refused connection: its close code by error code, after an `error` frame naming each bad parameter. */
  private refuse(ws: WebSocket, err: unknown): void {
    if (!(err instanceof DomainError)) {
      const id = logUnexpected(this.logger, err);
      return ws.close(WsCloseCode.InternalError, `internal error (correlation id ${id})`);
    }
    const code = CLOSE_CODE_OF[err.code];
    if (code !== undefined) return ws.close(code, err.message.slice(0, 120));
    ws.send(encodeWsFrame({ event: 'error', error: 'invalid_request', message: err.message, fields: err.fields }));
    ws.close(WsCloseCode.InvalidRequest, 'invalid request');
  }

  private receive(ws: WebSocket, delivery: Delivery, data: RawData, isBinary: boolean): void {
    this.alive.set(ws, true);
    // A client that sends but never reads must not grow its answers without bound either.
    if (ws.bufferedAmount > this.config.delivery.sendBufferBytes) return delivery.finish('slow_consumer');
    let answer: WsServerFrame;
    try {
      parseWsClientFrame(data, isBinary, this.config.json);
      answer = { event: 'pong' };
    } catch (err) {
      if (err instanceof MalformedFrameError)
        answer = { event: 'error', error: 'malformed_frame', message: err.message };
      else if (err instanceof JsonLimitError) answer = { event: 'error', error: err.code, message: err.message };
      else {
        const message = `internal error (correlation id ${logUnexpected(this.logger, err)})`;
        answer = { event: 'error', error: 'internal_error', message };
      }
    }
    ws.send(encodeWsFrame(answer));
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

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { AbstractWsAdapter } from '@nestjs/websockets';
import { Server as EngineServer } from 'engine.io';
import type { Observable } from 'rxjs';
import type { Namespace, ServerOptions, Socket } from 'socket.io';
import { Server } from 'socket.io';
import { WebSocket, WebSocketServer } from 'ws';
import type { UpgradeRouter } from './upgrade-router';

/** socket.io's default path, where its clients look. */
export const SOCKETIO_PATH = '/socket.io';

/** `@WebSocketGateway(…)` options of a raw WebSocket gateway (`ws`, no socket.io framing). */
export interface RawWsGatewayOptions {
  transport: 'ws';
  /** Nest's key for the server; also the path prefix in logs. */
  path: string;
  /** Whether an upgrade to this pathname is this gateway's. Checked in registration order. */
  owns: (pathname: string) => boolean;
}

/** `@WebSocketGateway(…)` options of a socket.io gateway: its namespace, on socket.io's usual path. */
export type SocketIoGatewayOptions = Partial<ServerOptions> & { namespace?: string; server?: Server };

/** Why an upgrade is refused before its handshake: the HTTP answer, written as is. */
export type UpgradeRefusal = string;

/** An answer with no body: `404 Not Found`, `503 Service Unavailable`. */
export function emptyAnswer(status: string, headers = ''): UpgradeRefusal {
  return `HTTP/1.1 ${status}\r\nConnection: close\r\n${headers}Content-Length: 0\r\n\r\n`;
}

/** An answer with a JSON error body `{error, message}`, like every HTTP error of the bridge. */
export function jsonAnswer(status: string, error: string, message: string): UpgradeRefusal {
  const body = JSON.stringify({ error, message });
  return (
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `X-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/**
 * The `@WebSocketServer()` of a raw WebSocket gateway. `admit` runs on the
 * upgrade request before the handshake (origin policy, path checks,
 * shutdown); a refusal answers with an HTTP status and no WebSocket. The
 * gateway sets `admit` and `maxPayload` in `afterInit`.
 */
export class RawWsServer extends WebSocketServer {
  admit: (req: IncomingMessage) => UpgradeRefusal | undefined = () => undefined;

  constructor() {
    // Gateways track their own connections; `ws` closes oversized client frames with 1009 itself.
    super({ noServer: true, clientTracking: false });
  }

  set maxPayload(bytes: number) {
    this.options.maxPayload = bytes;
  }

  /** The route the UpgradeRouter calls: refuse before the handshake, or complete it and emit `connection`. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const refusal = this.admit(req);
    if (refusal !== undefined) {
      socket.end(refusal);
      return;
    }
    this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
  };
}

/**
 * Nest's WebSocket adapter for this app: socket.io gateways as Nest's
 * IoAdapter serves them, and raw `ws` gateways, on the one HTTP port that
 * also carries MQTT over WebSocket (`/mqtt`).
 *
 * Why not `@nestjs/platform-ws`'s WsAdapter, and why socket.io is not
 * attached to the HTTP server (issue #14, item 7):
 * - WsAdapter routes an upgrade to a gateway only when its pathname equals
 *   the gateway's `path` exactly, so `/ws/iot/{type}/{id}/` cannot be one
 *   gateway, and it `socket.destroy()`s every upgrade no gateway matches,
 *   which kills `/mqtt` and `/socket.io` on the same server.
 * - WsAdapter and IoAdapter complete the handshake before any gateway code
 *   runs; the origin policy and shutdown must refuse before it (HTTP 403,
 *   503), and Nest has one adapter per application, not one per transport.
 * - engine.io attached to the HTTP server takes every upgrade and destroys
 *   those that are not its own; here its long-polling requests are mounted
 *   on Express and its upgrades come through the UpgradeRouter.
 * So every upgrade goes through the UpgradeRouter (one `upgrade` listener,
 * routing by path), and this adapter registers each gateway's route there.
 */
export class GatewayAdapter extends AbstractWsAdapter {
  private readonly io: RoutedIoAdapter;

  constructor(
    app: INestApplication,
    private readonly router: UpgradeRouter,
    /** engine.io's `maxHttpBufferSize`: MAX_MESSAGE_SIZE. */
    maxMessageSize: number,
  ) {
    super(app);
    this.io = new RoutedIoAdapter(app, router, maxMessageSize);
  }

  create(port: number, options?: RawWsGatewayOptions | SocketIoGatewayOptions): RawWsServer | Server | Namespace {
    if (options === undefined || !('transport' in options)) return this.io.create(port, options as ServerOptions);
    const server = new RawWsServer();
    this.router.register(options.owns, server.upgrade);
    return server;
  }

  override bindClientDisconnect(client: WebSocket | Socket, callback: () => void): void {
    if (client instanceof WebSocket) client.once('close', () => callback());
    else this.io.bindClientDisconnect(client, callback);
  }

  /** Raw gateways read their own frames: their protocols are not Nest's `{event, data}`. */
  bindMessageHandlers(
    client: WebSocket | Socket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    if (!(client instanceof WebSocket)) this.io.bindMessageHandlers(client, handlers, transform);
  }

  override async close(server: RawWsServer | Server | Namespace): Promise<void> {
    if (server instanceof RawWsServer) await new Promise<void>((done) => server.close(() => done()));
    else if (server instanceof Server) await this.io.close(server);
  }
}

/**
 * IoAdapter with engine.io off the HTTP server: long-polling mounted on
 * Express, upgrades through the UpgradeRouter.
 */
class RoutedIoAdapter extends IoAdapter {
  constructor(
    private readonly app: INestApplication,
    private readonly router: UpgradeRouter,
    private readonly maxMessageSize: number,
  ) {
    super(app);
  }

  override createIOServer(_port: number, options?: Partial<ServerOptions>): Server {
    const path = options?.path ?? SOCKETIO_PATH;
    const engine = new EngineServer({ maxHttpBufferSize: this.maxMessageSize });
    const io = new Server({ serveClient: false, path });
    io.bind(engine);
    const express = this.app.getHttpAdapter().getInstance() as {
      use(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void;
    };
    express.use(path, (req, res) => engine.handleRequest(req, res));
    this.router.register(
      (pathname) => pathname === path || pathname === `${path}/`,
      (req, socket, head) => engine.handleUpgrade(req, socket, head),
    );
    return io;
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BeforeApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Server as EngineServer } from 'engine.io';
import type { Socket } from 'socket.io';
import { Server } from 'socket.io';
import { credentialFromRequest } from '../auth/auth.guards';
import { OriginPolicy } from '../auth/origin-policy';
import type { ClientClaims } from '../auth/token.service';
import { TokenService } from '../auth/token.service';
import { DomainError, logUnexpected } from '../common/domain-error';
import { jsonValueProblem } from '../common/json-limits';
import { UpgradeRouter } from '../common/upgrade-router';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { Delivery } from './delivery-sink';
import { DeliveryStreamService } from './delivery-stream.service';
import type { SocketIoAck } from './socketio-frames';
import { subscribeRequest, subscriptionKey } from './socketio-frames';
import { SocketIoSink } from './socketio.sink';

/** socket.io's default path, where its clients look. */
export const SOCKETIO_PATH = '/socket.io';
export const IOT_NAMESPACE = '/iot';

type Ack = (answer: SocketIoAck) => void;

/**
 * socket.io on the shared HTTP port, namespace `/iot` (bridge.md, "Web
 * delivery"). engine.io is not attached to the HTTP server (it would take
 * every upgrade and destroy those that are not its own): its long-polling
 * requests are mounted on the Express app, its upgrades come through the
 * UpgradeRouter like `/ws/iot`, `/mqtt` and `/v1`.
 */
@Injectable()
export class SocketIoGateway implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('SocketIo');
  private readonly engine: EngineServer;
  private readonly io: Server;

  constructor(
    private readonly router: UpgradeRouter,
    private readonly adapterHost: HttpAdapterHost,
    private readonly tokens: TokenService,
    private readonly delivery: DeliveryStreamService,
    private readonly origins: OriginPolicy,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.engine = new EngineServer({ maxHttpBufferSize: config.maxMessageSize });
    this.io = new Server({ serveClient: false });
    this.io.bind(this.engine);
  }

  onModuleInit(): void {
    const express = this.adapterHost.httpAdapter.getInstance<{
      use(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void;
    }>();
    express.use(SOCKETIO_PATH, (req, res) => this.engine.handleRequest(req, res));
    this.router.register(
      (pathname) => pathname === SOCKETIO_PATH || pathname === `${SOCKETIO_PATH}/`,
      (req, socket, head) => this.engine.handleUpgrade(req, socket, head),
    );
    const iot = this.io.of(IOT_NAMESPACE);
    iot.use((socket, next) => {
      try {
        socket.data = { claims: this.authenticate(socket) };
        next();
      } catch (err) {
        if (!(err instanceof DomainError))
          return next(new Error(`internal error (correlation id ${logUnexpected(this.logger, err)})`));
        // socket.io-client surfaces this as `connect_error` with `err.message` and `err.data`.
        next(Object.assign(new Error(err.message), { data: { error: err.code } }));
      }
    });
    iot.on('connection', (socket) => this.connect(socket));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.delivery.goAway();
    this.io.disconnectSockets(true);
    this.engine.close();
  }

  private connect(socket: Socket): void {
    const claims = (socket.data as { claims?: ClientClaims }).claims;
    const untrack = this.delivery.track('socketio');
    const subscriptions = new Map<string, Delivery>();
    // socket.io parses packets itself (V8's JSON.parse takes any depth); what it hands on is bounded here (issue #18).
    socket.use(([, ...args], next) => {
      const last: unknown = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as Ack) : undefined;
      for (const arg of args) {
        const problem = jsonValueProblem(arg, this.config.json);
        if (problem !== undefined) return this.reply(socket, { error: problem.code, message: problem.message }, ack);
      }
      next();
    });
    socket.on('subscribe', (payload: unknown, ack?: Ack) => {
      const answer = this.answer(() => {
        const request = subscribeRequest(payload);
        const selection = this.delivery.select(request, claims);
        const key = subscriptionKey(request);
        subscriptions.get(key)?.close();
        const sink = new SocketIoSink(socket, {
          device_type: request.deviceType,
          ...(request.deviceId !== undefined ? { device_id: request.deviceId } : {}),
        });
        subscriptions.set(key, this.delivery.deliver(selection, sink));
        void socket.join(selection.group);
      });
      this.reply(socket, answer, ack);
    });
    socket.on('unsubscribe', (payload: unknown, ack?: Ack) => {
      const answer = this.answer(() => {
        const request = subscribeRequest(payload);
        const key = subscriptionKey(request);
        const subscription = subscriptions.get(key);
        if (subscription === undefined) throw new DomainError('not_subscribed', `No subscription to ${key}`);
        subscription.close();
        subscriptions.delete(key);
        void socket.leave(this.delivery.select(request, claims).group);
      });
      this.reply(socket, answer, ack);
    });
    socket.on('disconnect', () => {
      for (const subscription of subscriptions.values()) subscription.close();
      subscriptions.clear();
      untrack();
    });
  }

  /** Runs a request; a DomainError becomes the `{error}` answer, the connection stays. */
  private answer(run: () => void): SocketIoAck {
    try {
      run();
      return { ok: true };
    } catch (err) {
      if (err instanceof DomainError) {
        return { error: err.code, message: err.message, ...(err.fields ? { fields: err.fields } : {}) };
      }
      return { error: 'internal_error', message: `internal error (correlation id ${logUnexpected(this.logger, err)})` };
    }
  }

  /** Acknowledges when the client asked for it; an error without an ack function arrives as an `error` event. */
  private reply(socket: Socket, answer: SocketIoAck, ack: Ack | undefined): void {
    if (typeof ack === 'function') ack(answer);
    else if ('error' in answer) socket.emit('error', answer);
  }

  /** Token from the handshake's `auth.token`, else the usual header, query or cookie. */
  private authenticate(socket: Socket): ClientClaims | undefined {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const headers = socket.handshake.headers;
    const credential =
      typeof auth?.token === 'string'
        ? { token: auth.token, from: 'handshake' }
        : credentialFromRequest({ headers, url: socket.request.url });
    // A page of another origin riding on the cookie is refused (issue #18, item 6).
    const refusal = this.origins.refusal(headers, credential?.from === 'cookie');
    if (refusal !== undefined) throw new DomainError('origin_not_allowed', refusal, 403);
    if (credential !== undefined) return this.tokens.verify(credential.token);
    if (!this.config.auth.required) return undefined;
    throw new DomainError('missing_token', 'a token is required in the handshake auth {token}', 401);
  }
}

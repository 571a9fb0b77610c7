import type { BeforeApplicationShutdown } from '@nestjs/common';
import { Inject, Logger } from '@nestjs/common';
import type { OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit } from '@nestjs/websockets';
import { Ack, ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { credentialFromRequest } from '../auth/auth.guards';
import type { ClientClaims } from '../auth/token.service';
import { DomainError, logUnexpected } from '../common/domain-error';
import type { SocketIoGatewayOptions } from '../common/gateway.adapter';
import { jsonValueProblem } from '../common/json-limits';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { ClientCredential } from './client-auth';
import { ClientAuth } from './client-auth';
import type { Delivery } from './delivery-sink';
import { DeliveryStreamService } from './delivery-stream.service';
import type { SocketIoAck } from './socketio-frames';
import { subscribeRequest, subscriptionKey } from './socketio-frames';
import { SocketIoSink } from './socketio.sink';

export const IOT_NAMESPACE = '/iot';

type Ack = (answer: SocketIoAck) => void;

/** What each `/iot` socket carries: its claims from the handshake, its subscriptions by key. */
interface IotSocketData {
  claims: ClientClaims | undefined;
  subscriptions: Map<string, Delivery>;
  untrack: () => void;
}

/**
 * socket.io on the shared HTTP port, namespace `/iot` (bridge.md, "Web
 * delivery"), served by Nest's IoAdapter through GatewayAdapter (which
 * keeps engine.io off the HTTP server's `upgrade` event). The handshake is
 * authenticated; `subscribe` and `unsubscribe` are acknowledged with
 * `{ok: true}` or `{error, message, fields?}` by error code, and the socket
 * stays open.
 */
@WebSocketGateway<SocketIoGatewayOptions>({ namespace: IOT_NAMESPACE })
export class SocketIoGateway
  implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, BeforeApplicationShutdown
{
  private readonly logger = new Logger('SocketIo');
  private iot: Namespace | undefined;

  constructor(
    private readonly auth: ClientAuth,
    private readonly delivery: DeliveryStreamService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  afterInit(iot: Namespace): void {
    this.iot = iot;
    iot.use((socket, next) => {
      try {
        const data: IotSocketData = { claims: this.authenticate(socket), subscriptions: new Map(), untrack: () => {} };
        socket.data = data;
        next();
      } catch (err) {
        if (!(err instanceof DomainError))
          return next(new Error(`internal error (correlation id ${logUnexpected(this.logger, err)})`));
        // socket.io-client surfaces this as `connect_error` with `err.message` and `err.data`.
        next(Object.assign(new Error(err.message), { data: { error: err.code } }));
      }
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.delivery.goAway();
    this.iot?.server.disconnectSockets(true);
    this.iot?.server.engine.close();
  }

  handleConnection(socket: Socket): void {
    dataOf(socket).untrack = this.delivery.track('socketio');
    // socket.io parses packets itself (V8's JSON.parse takes any depth); what it hands on is bounded here (issue #18).
    socket.use(([, ...args], next) => {
      const last: unknown = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as Ack) : undefined;
      for (const arg of args) {
        const problem = jsonValueProblem(arg, this.config.json);
        if (problem !== undefined) return reply(socket, { error: problem.code, message: problem.message }, ack);
      }
      next();
    });
  }

  handleDisconnect(socket: Socket): void {
    const { subscriptions, untrack } = dataOf(socket);
    for (const subscription of subscriptions.values()) subscription.close();
    subscriptions.clear();
    untrack();
  }

  @SubscribeMessage('subscribe')
  subscribe(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown, @Ack() ack?: Ack): void {
    const answer = this.answer(() => {
      const { claims, subscriptions } = dataOf(socket);
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
    reply(socket, answer, ack);
  }

  @SubscribeMessage('unsubscribe')
  unsubscribe(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown, @Ack() ack?: Ack): void {
    const answer = this.answer(() => {
      const { claims, subscriptions } = dataOf(socket);
      const request = subscribeRequest(payload);
      const key = subscriptionKey(request);
      const subscription = subscriptions.get(key);
      if (subscription === undefined) throw new DomainError('not_subscribed', `No subscription to ${key}`);
      subscription.close();
      subscriptions.delete(key);
      void socket.leave(this.delivery.select(request, claims).group);
    });
    reply(socket, answer, ack);
  }

  /** Runs a request; a DomainError becomes the `{error}` answer by its code, the connection stays. */
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

  /** Token from the handshake's `auth.token`, else the usual header, query or cookie. */
  private authenticate(socket: Socket): ClientClaims | undefined {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const credential: ClientCredential | undefined =
      typeof auth?.token === 'string'
        ? { token: auth.token, from: 'handshake' }
        : credentialFromRequest({ headers: socket.handshake.headers, url: socket.request.url });
    return this.auth.claims(socket.handshake.headers, credential, 'in the handshake auth {token}');
  }
}

function dataOf(socket: Socket): IotSocketData {
  return socket.data as IotSocketData;
}

/** Acknowledges when the client asked for it; an error without an ack function arrives as an `error` event. */
function reply(socket: Socket, answer: SocketIoAck, ack: Ack | undefined): void {
  if (typeof ack === 'function') ack(answer);
  else if ('error' in answer) socket.emit('error', answer);
}

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';

/** What every log line written while handling one request or connection carries (issue #6). */
export interface LogContext {
  /** An HTTP request, SSE and NDJSON streams and polls included: `X-Request-Id`, given or generated. */
  requestId?: string;
  /** A WebSocket upgrade (raw WebSocket, socket.io, signalling, MQTT over WebSocket). */
  connectionId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();
/** Each request's context, to enter again where a middleware resumes from a stream callback (the body parser). */
const byRequest = new WeakMap<IncomingMessage, LogContext>();

/** The id of the request or connection being handled, for JsonLogger to add to each line. */
export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

/** A client-chosen request id is kept only when it is short and plain, so it cannot forge log fields. */
const GIVEN_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Tokens ride in query strings (EventSource cannot send headers); they never reach a log line. */
const TOKEN_IN_QUERY = /([?&](?:token|access_token)=)[^&]*/g;

export function redactUrl(url: string): string {
  return url.replace(TOKEN_IN_QUERY, '$1…');
}

/**
 * Express middleware: runs the rest of the request inside its log context,
 * answers the id in `X-Request-Id`, and logs one line at `debug` when the
 * response is done or the client left (a stream's line comes when it ends).
 * Never a line per request at `info`.
 */
export function requestContext(): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const logger = new Logger('HTTP');
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && GIVEN_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const started = performance.now();
    res.once('close', () =>
      logger.debug({
        requestId,
        method: req.method,
        url: redactUrl(req.url ?? ''),
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
        ...(res.writableFinished ? {} : { aborted: true }),
      }),
    );
    const context = { requestId };
    byRequest.set(req, context);
    storage.run(context, next);
  };
}

/**
 * Enters the request's context again. The JSON body parser calls `next`
 * from the request stream's `end` event, outside the context the request
 * started in; this goes right after it.
 */
export function rejoinRequestContext(): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, _res, next) => {
    const context = byRequest.get(req);
    if (context === undefined) next();
    else storage.run(context, next);
  };
}

type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Wraps the server's `upgrade` listener: each WebSocket connection gets a
 * connection id for the lines logged while it is set up (authentication,
 * refusals), and a `debug` line when it opens and when it closes.
 */
export function withConnectionId(handle: UpgradeHandler): UpgradeHandler {
  const logger = new Logger('Connections');
  return (req, socket, head) => {
    const connectionId = randomUUID();
    const url = redactUrl(req.url ?? '');
    const started = performance.now();
    storage.run({ connectionId }, () => {
      logger.debug({ connectionId, event: 'upgrade', url, remote: req.socket.remoteAddress });
      socket.once('close', () =>
        logger.debug({ connectionId, event: 'closed', url, ms: Math.round(performance.now() - started) }),
      );
      handle(req, socket, head);
    });
  };
}

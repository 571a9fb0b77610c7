import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { DomainErrorFilter } from './common/domain-error.filter';
import { GatewayAdapter } from './common/gateway.adapter';
import { jsonTextProblem } from './common/json-limits';
import { UpgradeRouter } from './common/upgrade-router';
import { validationPipe } from './common/validate';
import type { AppConfig } from './config/app-config';
import { BatchWriter } from './database/batch-writer';
import { ApiDocsService } from './docs/api-docs.service';
import { JsonLogger } from './observability/json-logger';
import { rejoinRequestContext, requestContext, withConnectionId } from './observability/request-context';

/** How long shutdown lets open HTTP connections finish before it closes them. */
const SHUTDOWN_GRACE_MS = 500;

function noSniff(_req: IncomingMessage, res: ServerResponse, next: () => void): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  next();
}

export interface RunningApp {
  app: INestApplication;
  config: AppConfig;
  /** `http://host:port` with the port actually bound. */
  url: string;
  port: number;
  close(): Promise<void>;
  /** Readies a forced exit while `close` still runs: what the process must not be stopped in the middle of. */
  abandon(): Promise<void>;
}

/** Builds the application from a validated config and listens; used by `main.ts` and the tests. */
export async function startApp(config: AppConfig): Promise<RunningApp> {
  const logger = new JsonLogger(config.logLevel);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    logger,
    bodyParser: false,
    abortOnError: false,
  });
  // No framework banner; no content sniffing of any answer (issue #18, item 7).
  app.disable('x-powered-by');
  app.use(noSniff);
  // A request id on every response and every log line of the request (debug: no line per request at info).
  app.use(requestContext());
  // Depth and keys are checked on the raw body before it is parsed (issue #18), a 400 naming the limit.
  // Nest's types leave out body-parser's `verify` (its own `rawBody` option sets one); without `rawBody` it passes ours on.
  const verify = (_req: unknown, _res: unknown, body: Buffer): void => {
    const problem = jsonTextProblem(body, config.json);
    if (problem !== undefined) throw problem;
  };
  app.useBodyParser('json', { limit: config.maxMessageSize, verify } as { limit: number });
  app.use(rejoinRequestContext());
  app.useGlobalFilters(new DomainErrorFilter());
  // Nest's gateways (ws, socket.io, signalling) reach the shared port through the one UpgradeRouter.
  const upgrades = app.get(UpgradeRouter);
  app.useWebSocketAdapter(new GatewayAdapter(app, upgrades, config.maxMessageSize));
  // Every `@Body/@Query/@Param({ schema })` is checked here; a failure is one 400 naming each field (common/validate.ts).
  app.useGlobalPipes(validationPipe());
  app.get(ApiDocsService).attach(app);
  const server = app.getHttpServer();
  server.on('upgrade', withConnectionId(upgrades.handle));
  await app.listen(config.http.port, config.http.host);
  const port = (server.address() as AddressInfo).port;
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  const close = async (): Promise<void> => {
    // Streams end with `going_away` before the server closes; whatever is still open a moment
    // later (a half-open client, a connection that never sent a request) must not hold shutdown.
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    force.unref();
    try {
      await app.close();
    } finally {
      clearTimeout(force);
    }
  };
  const abandon = (): Promise<void> => app.get(BatchWriter).close();
  return { app, config, port, url: `http://${host}:${port}`, close, abandon };
}

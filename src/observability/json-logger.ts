import type { LoggerService } from '@nestjs/common';
import pino from 'pino';
import type { Logger as Pino } from 'pino';
import type { LogLevel } from '../config/app-config';
import { currentLogContext } from './request-context';

/**
 * Nest's logger, writing structured JSON lines through pino (issue #6). Each
 * line carries the Nest context (`context`), the id of the request or
 * connection being handled when there is one (`requestId`, `connectionId`,
 * see request-context.ts), and whatever fields a caller adds. Nothing logs
 * per message at `info`.
 */
export class JsonLogger implements LoggerService {
  readonly pino: Pino;

  constructor(level: LogLevel, destination?: pino.DestinationStream) {
    const options: pino.LoggerOptions = {
      level,
      base: { service: 'devicehub-bridge' },
      mixin: () => ({ ...currentLogContext() }),
    };
    this.pino = destination ? pino(options, destination) : pino(options);
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  /** Nest passes the context last, and a stack trace before it for errors. */
  private write(level: pino.Level, message: unknown, rest: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    const stack = level === 'error' && rest.length === 2 && typeof rest[0] === 'string' ? rest[0] : undefined;
    const fields: Record<string, unknown> = { ...(context ? { context } : {}), ...(stack ? { stack } : {}) };
    if (typeof message === 'object' && message !== null && !(message instanceof Error)) {
      this.pino[level]({ ...fields, ...(message as Record<string, unknown>) });
    } else if (message instanceof Error) {
      this.pino[level]({ ...fields, err: message }, message.message);
    } else {
      this.pino[level](fields, String(message));
    }
  }
}

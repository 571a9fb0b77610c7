import { randomUUID } from 'node:crypto';

/**
 * A failure with a stable code that clients can act on. Each transport maps
 * it once: HTTP status and JSON body here (`DomainErrorFilter`), an error
 * frame or close code on sockets, drop-and-count on MQTT.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** HTTP status when this reaches a REST client. */
    readonly status = 400,
    /** Field name to what is wrong with it, for invalid requests. */
    readonly fields?: Record<string, string>,
  ) {
    super(message);
  }
}

export class InvalidRequestError extends DomainError {
  constructor(fields: Record<string, string>) {
    super(
      'invalid_request',
      Object.entries(fields)
        .map(([name, why]) => `${name}: ${why}`)
        .join('; '),
      400,
      fields,
    );
  }
}

export class UnauthorizedError extends DomainError {
  constructor(code: 'missing_token' | 'invalid_token' | 'token_expired' | 'invalid_admin_token', message: string) {
    super(code, message, 401);
  }
}

export class NotFoundError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message, 404);
  }
}

/**
 * Logs an error nobody expected, once, under a fresh correlation id, and
 * returns the id for the message the client sees ("internal error
 * (correlation id …)"), so an operator can find the stack from a bug report.
 */
export function logUnexpected(logger: { error(message: string): void }, err: unknown): string {
  const correlationId = randomUUID();
  logger.error(`Unhandled error ${correlationId}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return correlationId;
}

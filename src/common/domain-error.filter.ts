import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import { Catch, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError, logUnexpected } from './domain-error';

/**
 * Maps every error to a JSON body `{error, message, fields?}` once for all REST
 * endpoints. Unknown errors are logged once with a correlation id and become
 * a generic 500 that names that id.
 */
@Catch()
export class DomainErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(thrown: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    // Nest wraps errors from Express middleware (the body parser's `verify`: JSON limits) in an HttpException.
    const exception = thrown instanceof HttpException && thrown.cause instanceof DomainError ? thrown.cause : thrown;
    if (exception instanceof DomainError) {
      res.status(exception.status).json({
        error: exception.code,
        message: exception.message,
        ...(exception.fields ? { fields: exception.fields } : {}),
      });
      return;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      const detail = typeof body === 'string' ? body : (body as { message?: unknown }).message;
      const message = Array.isArray(detail)
        ? detail.join('; ')
        : typeof detail === 'string'
          ? detail
          : exception.message;
      res
        .status(status)
        .json({ error: status === 404 ? 'not_found' : status === 400 ? 'invalid_request' : 'http_error', message });
      return;
    }
    const correlationId = logUnexpected(this.logger, exception);
    res.status(500).json({ error: 'internal_error', message: `Internal error (correlation id ${correlationId})` });
  }
}

import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiSecurity } from '@nestjs/swagger';
import { ref } from './openapi.schemas';
import type { Response, Schema } from './openapi.types';

export { ref };

/*
 * The decorators the controllers wear for `/docs` (issue #14, item 7): the
 * document is generated from them, from the routes themselves and from the
 * zod schemas of their input (common/validate.ts). Response bodies name the
 * component schemas of openapi.schemas.ts.
 */

/** One operation: its id, summary and (optional) longer description. */
export const ApiDoc = (operationId: string, summary: string, description?: string): MethodDecorator =>
  ApiOperation({ operationId, summary, ...(description !== undefined ? { description } : {}) });

/** A client JWT, in any of the three places ClientAuthGuard reads it. */
export const ClientAuth = (): MethodDecorator & ClassDecorator =>
  applyDecorators(ApiSecurity('clientBearer'), ApiSecurity('clientQuery'), ApiSecurity('clientCookie'));

/** `Authorization: Bearer ADMIN_TOKEN`. */
export const AdminAuth = (): MethodDecorator & ClassDecorator => applyDecorators(ApiSecurity('admin'));

/** A JSON answer of `status`. */
export const Answers = (status: number, description: string, schema?: Schema, example?: unknown): MethodDecorator =>
  ApiResponse({
    status,
    description,
    ...(schema !== undefined
      ? { content: { 'application/json': { schema, ...(example !== undefined ? { example } : {}) } } }
      : {}),
  });

/** The JSON error every REST failure answers (DomainErrorFilter). */
export const Fails = (status: number, description: string): MethodDecorator =>
  Answers(status, description, ref('Error'));

export const Invalid = (
  description = 'Invalid request: `fields` names each bad parameter or body field.',
): MethodDecorator => Fails(400, description);

export const Unauthorized = (): MethodDecorator =>
  Fails(
    401,
    'Missing, invalid or expired credential (`missing_token`, `invalid_token`, `token_expired`, `invalid_admin_token`).',
  );

export const NotFound = (what: string): MethodDecorator => Fails(404, `No such ${what}, or not visible to this token.`);

/** An answer of other media types (a page, a stream, metrics text), optionally with its headers. */
export const AnswersContent = (
  status: number,
  description: string,
  content: Response['content'],
  headers?: Response['headers'],
): MethodDecorator =>
  ApiResponse({ status, description, content: content as never, ...(headers ? { headers: headers } : {}) });

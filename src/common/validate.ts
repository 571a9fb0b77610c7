import { StandardSchemaValidationPipe } from '@nestjs/common';
import { z } from 'zod';
import { InvalidRequestError } from './domain-error';

/**
 * HTTP input is validated one way (issue #14, item 7): a zod schema per body,
 * query or path, given to Nest's `@Body({ schema })`, `@Query({ schema })` or
 * `@Param({ schema })`. The global `StandardSchemaValidationPipe` checks it
 * and `@nestjs/swagger` documents it from the same schema, so what is
 * accepted and what `/docs` says cannot drift apart. Each schema says what
 * is wrong in the words clients have always read (`limit: must be an
 * integer from 1 to 10000`), and one 400 names every bad field.
 *
 * zod rather than class-validator: one schema object is both the check and
 * the document (Standard Schema with JSON Schema output, which Nest 12 and
 * @nestjs/swagger 12 read natively), checks across fields (`agg` needs
 * `interval`) are plain code, nothing builds class instances from hostile
 * JSON, and it is one dependency instead of class-validator plus
 * class-transformer.
 */

/** Topic-level names: device types and ids (no MQTT wildcards or separators). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what a topic level must not hold
export const NAME_PATTERN = /^[^/+#\s\u0000-\u001f]{1,128}$/;

export const NAME_RULE = 'must be a string of 1 to 128 characters without /, +, # or whitespace';

/** A string matching `pattern`; `message` for anything else (absent, not a string, no match). */
export const text = (pattern: RegExp, message: string): z.ZodString =>
  z.string({ error: message }).regex(pattern, { error: message });

/** A device type, device id or other topic-level name. */
export const name = (message = NAME_RULE): z.ZodString => text(NAME_PATTERN, message);

/** A JSON object of any content (its depth and width are bounded before parsing: json-limits.ts). */
export const jsonObject = (message = 'must be a JSON object'): z.ZodRecord<z.ZodString, z.ZodUnknown> =>
  z.record(z.string(), z.unknown(), { error: message });

/** What a query parameter given twice is told (PlainQueryMiddleware refuses most before this). */
const ONCE = 'must be given once';
const queryString = (message: string): z.ZodString =>
  z.string({ error: (issue) => (Array.isArray(issue.input) ? ONCE : message) });

/** An optional query parameter matching `pattern`: absent and empty are the same. */
export const queryText = (pattern: RegExp, message: string): z.ZodType<string | undefined, string | undefined> =>
  z.preprocess(
    (value) => (value === '' ? undefined : value),
    queryString(message).regex(pattern, { error: message }).optional(),
  ) as never;

/** A JSON body: an object with these fields (unknown fields are dropped); anything else is the field `body`. */
export const jsonBody = <T extends z.ZodRawShape>(shape: T): z.ZodObject<T> =>
  z.object(shape, { error: 'must be a JSON object' });

/**
 * A query parameter holding a bounded number: `fallback` when absent or
 * empty, digits only (no `1e3`, `0x10` or spaces that `Number()` would take).
 */
export function queryNumber(options: {
  min: number;
  max: number;
  fallback: number;
  message: string;
  /** Up to three decimals allowed. @default false */
  fractional?: boolean;
}): z.ZodType<number, string | undefined> {
  const digits = options.fractional ? /^\d{1,16}(\.\d{1,3})?$/ : /^\d{1,16}$/;
  return queryString(options.message)
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return options.fallback;
      const n = Number(value);
      if (digits.test(value) && n >= options.min && n <= options.max) return n;
      ctx.addIssue({ code: 'custom', message: options.message });
      return z.NEVER;
    })
    .meta({ type: options.fractional ? 'number' : 'integer', minimum: options.min, maximum: options.max });
}

/** A Standard Schema issue, as zod and the pipe report it. */
interface Issue {
  readonly message: string;
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/** One 400 naming each bad field (its first problem); a body that is no object is the field `body`. */
export function invalidRequest(issues: readonly Issue[]): InvalidRequestError {
  const fields: Record<string, string> = {};
  for (const issue of issues) {
    const first = issue.path?.[0];
    const key = first === undefined ? 'body' : String(typeof first === 'object' ? first.key : first);
    fields[key] ??= issue.message;
  }
  return new InvalidRequestError(fields);
}

/** Checks every argument that carries a schema; registered once for the whole app (app.ts). */
export function validationPipe(): StandardSchemaValidationPipe {
  return new StandardSchemaValidationPipe({ exceptionFactory: invalidRequest });
}

/** Parses with a schema outside a request (unit specs, callers that are not controllers). */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(result.error.issues);
  return result.data;
}

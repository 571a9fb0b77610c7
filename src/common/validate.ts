import { InvalidRequestError } from './domain-error';

/** Topic-level names: device types and ids (no MQTT wildcards or separators). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what a topic level must not hold
export const NAME_PATTERN = /^[^/+#\s\u0000-\u001f]{1,128}$/;

/**
 * Collects what is wrong with each field of a JSON body and throws one 400
 * naming them all (issue #2: "400 naming each invalid field").
 */
export class BodyReader {
  private readonly problems: Record<string, string> = {};
  private readonly body: Record<string, unknown>;

  constructor(body: unknown) {
    this.body =
      typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    if (this.body !== body) this.problems.body = 'must be a JSON object';
  }

  name(field: string, optional = false): string | undefined {
    const value = this.body[field];
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
      this.problems[field] = 'must be a string of 1 to 128 characters without /, +, # or whitespace';
      return undefined;
    }
    return value;
  }

  string(field: string, pattern: RegExp, description: string, optional = false): string | undefined {
    const value = this.body[field];
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'string' || !pattern.test(value)) {
      this.problems[field] = description;
      return undefined;
    }
    return value;
  }

  object(field: string, optional = false): Record<string, unknown> | undefined {
    const value = this.body[field];
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.problems[field] = 'must be a JSON object';
      return undefined;
    }
    return value as Record<string, unknown>;
  }

  number(field: string, min: number, max: number, optional = false): number | undefined {
    const value = this.body[field];
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.problems[field] = `must be a number from ${min} to ${max}`;
      return undefined;
    }
    return value;
  }

  stringArray(field: string, itemPattern: RegExp, description: string, maxItems: number): string[] | undefined {
    const value = this.body[field];
    if (
      !Array.isArray(value) ||
      value.length === 0 ||
      value.length > maxItems ||
      !value.every((v) => typeof v === 'string' && itemPattern.test(v))
    ) {
      this.problems[field] = description;
      return undefined;
    }
    return value as string[];
  }

  raw(field: string): unknown {
    return this.body[field];
  }

  /** Throws the collected problems, if any. */
  done(): void {
    if (Object.keys(this.problems).length > 0) throw new InvalidRequestError(this.problems);
  }
}

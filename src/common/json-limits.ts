import { DomainError } from './domain-error';

/**
 * How deep and how wide JSON from the wire may be (issue #18, item 1). V8's
 * JSON.parse takes any depth, but JSON.stringify and every recursive walk
 * after it overflow the stack: one 60 KB message of 30,000 nested arrays
 * once stopped the event log for everyone. Every entry point (MQTT payloads,
 * HTTP bodies, `/ws/iot`, socket.io and `/v1` frames) checks its input here
 * before it goes any further.
 */
export interface JsonLimits {
  /** Nesting levels of arrays and objects; `{}` and `[]` are one level, `{"a": []}` two. `MAX_JSON_DEPTH`. @default 32 */
  maxDepth: number;
  /** Keys in any one object (not in the whole message: a batch of many small samples stays fine). `MAX_JSON_KEYS`. @default 1000 */
  maxKeys: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 32, maxKeys: 1000 };

/** A message over the limits: code `too_deep` or `too_many_keys`, a 400 on HTTP. */
export class JsonLimitError extends DomainError {
  constructor(
    override readonly code: 'too_deep' | 'too_many_keys',
    message: string,
  ) {
    super(code, message, 400);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/** Marks an array's level in the key counts. */
const ARRAY = -1;

const tooDeep = (limits: JsonLimits): JsonLimitError =>
  new JsonLimitError('too_deep', `JSON nests deeper than ${limits.maxDepth} levels (MAX_JSON_DEPTH)`);
const tooManyKeys = (limits: JsonLimits): JsonLimitError =>
  new JsonLimitError('too_many_keys', `a JSON object has more than ${limits.maxKeys} keys (MAX_JSON_KEYS)`);

/**
 * What is wrong with raw JSON text (UTF-8 bytes) against the limits, found
 * in one pass without recursion and before anything parses it. Structural
 * characters are ASCII and never occur inside a multi-byte UTF-8 sequence,
 * so bytes scan as well as characters; strings (escapes included) are
 * skipped. Text that is not JSON may pass or fail here: the parser that
 * runs next rejects it either way.
 */
export function jsonTextProblem(text: Uint8Array, limits: JsonLimits): JsonLimitError | undefined {
  // keys[d]: keys seen so far in the object open at level d, or ARRAY.
  const keys = new Int32Array(limits.maxDepth + 1);
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text[i];
    if (c === QUOTE) {
      for (i++; i < length && text[i] !== QUOTE; i++) if (text[i] === BACKSLASH) i++;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limits.maxDepth) return tooDeep(limits);
      keys[depth] = c === OPEN_BRACE ? 0 : ARRAY;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth > 0) depth--;
    } else if (c === COLON && depth > 0 && keys[depth] !== ARRAY) {
      if (++keys[depth] > limits.maxKeys) return tooManyKeys(limits);
    }
  }
  return undefined;
}

/**
 * The same limits for a value some library has already parsed (socket.io
 * hands its handlers values, never text), walked with an explicit stack.
 * The top-level value counts as level 1 when it is an array or object.
 */
export function jsonValueProblem(value: unknown, limits: JsonLimits): JsonLimitError | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth > limits.maxDepth) return tooDeep(limits);
    const children = Array.isArray(item) ? (item as unknown[]) : Object.values(item);
    if (!Array.isArray(item) && children.length > limits.maxKeys) return tooManyKeys(limits);
    for (const child of children) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return undefined;
}

/**
 * Channel names and patterns (signalling-protocol.md, "Channels"): at most
 * 256 bytes, no control characters, reserved prefixes, and the `*` / `**`
 * pattern language shared with JWT `channels` claims.
 */

export const MAX_CHANNEL_BYTES = 256;
/** Peer ids and request ids (JWT `sub`, `send.to`, `requestId`). */
export const MAX_ID_LENGTH = 128;

/** Case-insensitive, as the SDK's own check (`RESERVED_CHANNEL_PREFIX_RE`). */
const RESERVED = /^_(metered|internal|system)\//i;
/** JWT `sub` and peer ids: printable ASCII. */
const PEER_ID = /^[\x20-\x7e]{1,128}$/;

/** Why a channel name or pattern is unusable, or undefined when it is fine. */
export function channelProblem(channel: unknown): string | undefined {
  if (typeof channel !== 'string' || channel.length === 0) return 'channel must be a non-empty string';
  if (Buffer.byteLength(channel) > MAX_CHANNEL_BYTES) return `channel exceeds ${MAX_CHANNEL_BYTES} bytes`;
  if (hasControlChars(channel)) return 'channel contains control characters';
  return undefined;
}

/** C0, DEL and C1 controls, as the SDK's own `hasControlChars`. */
function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

export function isReservedChannel(channel: string): boolean {
  return RESERVED.test(channel);
}

export function isValidPeerId(peerId: unknown): peerId is string {
  return typeof peerId === 'string' && PEER_ID.test(peerId);
}

/** One token of a pattern: a literal character, `*` or `**`. */
export type PatternToken = string | typeof STAR | typeof GLOBSTAR;
export const STAR = Symbol('*');
export const GLOBSTAR = Symbol('**');

/**
 * Tokenises exactly as `compileChannelPattern` reads a pattern: `\*` and
 * `\\` are literals, `**` pairs greedily left to right, any other `\` is a
 * literal backslash.
 */
export function tokenizePattern(pattern: string): PatternToken[] {
  const tokens: PatternToken[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\' && (pattern[i + 1] === '*' || pattern[i + 1] === '\\')) {
      tokens.push(pattern[++i]);
    } else if (ch === '*' && pattern[i + 1] === '*') {
      tokens.push(GLOBSTAR);
      i++;
    } else if (ch === '*') {
      tokens.push(STAR);
    } else {
      tokens.push(ch);
    }
  }
  return tokens;
}

/** True when the pattern has a wildcard (an unescaped `*`). */
export function isWildcardPattern(pattern: string): boolean {
  return tokenizePattern(pattern).some((t) => typeof t !== 'string');
}

/**
 * Whether every channel `pattern` matches is also matched by `claim`: how a
 * wildcard subscription is authorised against a token's `channels` claim.
 * Sound (never says yes wrongly): a claim `*` stands only for pattern text
 * without `/` and `**`, a claim `**` for any pattern text.
 */
export function patternCovers(claim: string, pattern: string): boolean {
  const c = tokenizePattern(claim);
  const p = tokenizePattern(pattern);
  const width = p.length + 1;
  // 0 unknown, 1 yes, 2 no; memo over (claim position, pattern position).
  const memo = new Uint8Array((c.length + 1) * width);
  const covers = (i: number, j: number): boolean => {
    const key = i * width + j;
    if (memo[key] !== 0) return memo[key] === 1;
    let result: boolean;
    if (i === c.length) result = j === p.length;
    else {
      const ct = c[i];
      if (ct === GLOBSTAR) {
        // Consume nothing, or one more pattern token of any kind.
        result = covers(i + 1, j) || (j < p.length && covers(i, j + 1));
      } else if (ct === STAR) {
        const pt = p[j];
        const spansOne = j < p.length && (pt === STAR || (typeof pt === 'string' && pt !== '/'));
        result = covers(i + 1, j) || (spansOne && covers(i, j + 1));
      } else {
        result = j < p.length && p[j] === ct && covers(i + 1, j + 1);
      }
    }
    memo[key] = result ? 1 : 2;
    return result;
  };
  return covers(0, 0);
}

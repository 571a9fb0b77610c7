const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses `250ms`, `30s`, `5m`, `24h`, `7d`, or a bare number of
 * `bareUnit`s. Returns milliseconds, or undefined when the text is not a duration.
 */
export function parseDuration(text: string, bareUnit: keyof typeof UNIT_MS = 's'): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? bareUnit]);
}

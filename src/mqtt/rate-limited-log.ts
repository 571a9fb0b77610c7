/**
 * At most one line per key per interval; the next line that gets through says
 * how many were held back. Bad input can arrive thousands of times a second
 * (issue #2: "logged (rate-limited)"), the log should not.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly intervalMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `key` must come from a small fixed set (a reason name), so the map stays small. */
  log(key: string, line: string): void {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && t - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const held =
      seen !== undefined && seen.suppressed > 0
        ? ` (and ${seen.suppressed} more since ${new Date(seen.at).toISOString()})`
        : '';
    this.last.set(key, { at: t, suppressed: 0 });
    this.write(`${line}${held}`);
  }
}

let lastMs = Number.NaN;
let lastIso = '';

/**
 * `new Date(ms).toISOString()`, remembering the last answer: the messages of
 * one socket read mostly share their receive millisecond.
 */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

let parsedIso = '';
let parsedMs = Number.NaN;

/**
 * `Date.parse(iso)`, remembering the last answer: the events of one batch
 * mostly share their receive time's text (isoTime), and each event's was
 * parsed four times on the ingest path (device state twice, the log row, the
 * readings), 180 ns each.
 */
export function isoMs(iso: string): number {
  if (iso !== parsedIso) {
    parsedMs = Date.parse(iso);
    parsedIso = iso;
  }
  return parsedMs;
}

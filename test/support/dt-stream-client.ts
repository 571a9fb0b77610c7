/**
 * A TypeScript port of the stream loop Disruptive Technologies publish for
 * their REST API's `:stream` endpoints (`stream()` in their Python client's
 * `disruptive/requests.py`, the loop of their "Streaming events" example),
 * kept line for line so that a DT user's code is what drives the bridge
 * (issue #13):
 *
 * - one long GET with the parameters in the query (`ping_interval=10s`,
 *   `event_types` repeated per name) and a timeout of ping_interval +
 *   jitter on every read: no line (not even a ping) in that time is an error;
 * - each line is `json.loads`ed; a line without `result` ends this
 *   connection (the loop reconnects at once); otherwise the retry counter
 *   resets, `payload['result']['event']` is taken, pings are skipped and
 *   every other event is yielded;
 * - an error sleeps `2 ** nth_retry` seconds and retries, at most
 *   `request_retries` times in a row;
 * - a stream that simply ends is reconnected at once.
 *
 * Two departures, both what a DT user changes to point the loop at the
 * bridge: the token goes in `token=` instead of an Authorization header
 * (EventSource habits; either works), and, opt-in with `resume`, the id of
 * the last event yielded is sent as `last_event_id=` on each reconnect (DT's
 * stream has no resume; ours has, so nothing is lost in between).
 */
export interface DtStreamOptions {
  /** Seconds; DT's client uses 10. */
  pingInterval: number;
  /** Seconds added to the ping interval for the read timeout; DT's client uses 2. */
  pingJitter: number;
  /** DT's `dt.request_retries`. */
  requestRetries: number;
  /** Our addition: send the last event's id as `last_event_id` on reconnect. */
  resume: boolean;
  /** Ends the loop, as KeyboardInterrupt does in Python. */
  signal: AbortSignal;
  /** What the Python prints and `dtlog.log`s. */
  log: (line: string) => void;
}

export type DtEvent = { eventType: string } & Record<string, unknown>;

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * `requests.get(url, stream=True, timeout=…)` and `iter_lines()`: the lines
 * of the response as they arrive; throws when no bytes came within
 * `timeoutMs` (requests' read timeout), when the connection fails, or when
 * `signal` aborts.
 */
async function* iterLines(url: string, timeoutMs: number, signal: AbortSignal): AsyncGenerator<string> {
  const abort = new AbortController();
  const onStop = (): void => abort.abort(new Error('stopped'));
  signal.addEventListener('abort', onStop, { once: true });
  let timedOut = false;
  const expire = (): void => {
    timedOut = true;
    abort.abort();
  };
  let timer = setTimeout(expire, timeoutMs);
  const rearm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(expire, timeoutMs);
  };
  try {
    const res = await fetch(url, { signal: abort.signal, headers: { Accept: 'application/json' } });
    rearm();
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rearm();
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        yield line;
      }
    }
    if (buffer !== '') yield buffer;
  } catch (err) {
    throw timedOut ? new Error(`Read timed out. (read timeout=${timeoutMs / 1000})`) : err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onStop);
    abort.abort();
  }
}

export async function* dtStream(
  url: string,
  params: Record<string, string | string[]>,
  options: DtStreamOptions,
): AsyncGenerator<DtEvent> {
  const { pingInterval, pingJitter, requestRetries, signal, log } = options;
  let lastEventId: string | undefined;
  // Set up a simple catch-all retry policy.
  let nthRetry = 0;
  while (nthRetry <= requestRetries) {
    if (signal.aborted) break;
    try {
      // Connection will time out and reconnect if no single line is received in ping_interval + ping_jitter.
      log('Starting stream...');
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(params)) {
        for (const v of Array.isArray(value) ? value : [value]) query.append(name, v);
      }
      if (options.resume && lastEventId !== undefined) query.set('last_event_id', lastEventId);
      for await (const line of iterLines(`${url}?${query.toString()}`, (pingInterval + pingJitter) * 1000, signal)) {
        // Decode the response payload and break on error.
        const payload = JSON.parse(line) as { result?: { event: DtEvent } };
        if (payload.result === undefined) {
          log(`No result: ${line}`);
          break;
        }
        // Reset retry counter.
        nthRetry = 0;
        // Check for ping event.
        const event = payload.result.event;
        if (event.eventType === 'ping') {
          log('Got ping');
          continue;
        }
        if (typeof event.id === 'string') lastEventId = event.id;
        yield event;
      }
    } catch (err) {
      if (signal.aborted) break;
      log(err instanceof Error ? err.message : String(err));
      // Print the error and try again up to request_retries.
      if (nthRetry < requestRetries) {
        log(`Connection lost. Retry ${nthRetry + 1}/${requestRetries}.`);
        // Exponential backoff in sleep time.
        await sleep(2 ** nthRetry * 1000, signal);
        nthRetry += 1;
      } else {
        break;
      }
    }
  }
}

import http from 'node:http';
import https from 'node:https';
import { publicOnlyLookup } from './url-safety';

/** Bytes of a receiver's answer that are read (kept in `last_error` on a failure); past it the answer is cut off. */
export const RESPONSE_BODY_LIMIT = 4096;

export interface SendResult {
  ok: boolean;
  /** The receiver's status, when it answered. */
  status?: number;
  /** Why it failed: `HTTP 500: …body…`, `timed out after 10000 ms`, `connect ECONNREFUSED …`. */
  error?: string;
  durationMs: number;
}

/**
 * One connector's HTTP client: POSTs on a keep-alive connection of its own
 * (one request at a time, so a slow receiver holds its own socket and no
 * other connector's), never follows a redirect (a 3xx is a failure, as
 * Svix counts it), reads at most RESPONSE_BODY_LIMIT bytes of any answer,
 * and gives up after the connector's timeout, from connect to the end of
 * the answer.
 */
export class WebhookSender {
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(url: string, allowPrivate: boolean) {
    this.url = new URL(url);
    const options: https.AgentOptions = {
      keepAlive: true,
      maxSockets: 1,
      ...(allowPrivate ? {} : { lookup: publicOnlyLookup }),
    };
    this.agent = this.url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
  }

  send(body: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const done = (result: Omit<SendResult, 'durationMs'>): SendResult => ({
      ...result,
      durationMs: Math.round(performance.now() - started),
    });
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (result: Omit<SendResult, 'durationMs'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(done(result));
      };
      const request = (this.url.protocol === 'https:' ? https : http).request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      });
      const timer = setTimeout(() => {
        finish({ ok: false, error: `timed out after ${timeoutMs} ms` });
        request.destroy();
      }, timeoutMs);
      const onAbort = (): void => {
        finish({ ok: false, error: 'stopped' });
        request.destroy();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      request.on('error', (err) => finish({ ok: false, error: err.message }));
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        const answered = (): void => {
          const ok = status >= 200 && status < 300;
          const text = Buffer.concat(chunks).toString('utf8').slice(0, RESPONSE_BODY_LIMIT).trim();
          const redirect = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
          finish({ ok, status, ...(ok ? {} : { error: `HTTP ${status}${redirect}${text ? `: ${text}` : ''}` }) });
        };
        response.on('data', (chunk: Buffer) => {
          if (size < RESPONSE_BODY_LIMIT) chunks.push(chunk);
          size += chunk.length;
          // Whatever the receiver sends past the bound is not read: the connection goes instead.
          if (size > RESPONSE_BODY_LIMIT) {
            answered();
            response.destroy();
          }
        });
        response.on('end', answered);
        response.on('error', (err) => finish({ ok: false, status, error: err.message }));
      });
      request.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

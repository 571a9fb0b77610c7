import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';

/**
 * Cross-site WebSocket hijacking (issue #18, item 6). A browser sends the
 * bridge's `token` cookie with a WebSocket handshake that any page opens,
 * and no CORS check applies to WebSockets: so a connection that
 * authenticates by cookie must come from the bridge's own origin (the
 * `Origin` host is the `Host` header) or one listed in ALLOWED_ORIGINS.
 * Tokens in a header or the query were put there by the page itself and
 * are not checked; nor are clients that send no `Origin` (not browsers).
 */
@Injectable()
export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.allowed = new Set(config.auth.allowedOrigins);
  }

  /** Why this handshake is refused, or undefined when it may go on. */
  refusal(headers: IncomingHttpHeaders, byCookie: boolean): string | undefined {
    const origin = headers.origin;
    if (!byCookie || origin === undefined) return undefined;
    // `null` (sandboxed frames, file: pages) and other non-URLs are never allowed.
    const page = URL.canParse(origin) ? new URL(origin) : undefined;
    if (page && (page.host === headers.host?.toLowerCase() || this.allowed.has(page.origin))) return undefined;
    return (
      `origin ${origin.slice(0, 100)} may not connect with the token cookie: ` +
      'list it in ALLOWED_ORIGINS, or send the token as ?token= or Authorization: Bearer'
    );
  }
}

/** Answers an upgrade refused by the policy with 403 and the reason, as JSON like every HTTP error. */
export function refuseUpgrade(socket: Duplex, reason: string): void {
  const body = JSON.stringify({ error: 'origin_not_allowed', message: reason });
  socket.end(
    'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
      `X-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

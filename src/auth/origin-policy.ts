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
    if (!byCookie || origin === undefined || this.allows(origin, headers)) return undefined;
    return (
      `origin ${origin.slice(0, 100)} may not connect with the token cookie: ` +
      'list it in ALLOWED_ORIGINS, or send the token as ?token= or Authorization: Bearer'
    );
  }

  /**
   * The same rule for a client certificate, the other credential a browser
   * presents by itself: once its user has picked one for a host, every page
   * that opens `wss://host/mqtt` on the TLS listener rides on it. So an MQTT
   * over WebSocket upgrade that shows a trusted certificate must come from an
   * allowed origin. (The TLS port serves no pages: a browser page there is
   * always of another origin, and must be listed.)
   */
  certificateRefusal(headers: IncomingHttpHeaders): string | undefined {
    const origin = headers.origin;
    if (origin === undefined || this.allows(origin, headers)) return undefined;
    return (
      `origin ${origin.slice(0, 100)} may not connect with the browser's client certificate: ` +
      'list it in ALLOWED_ORIGINS, or connect without a certificate and with the MQTT username and password'
    );
  }

  private allows(origin: string, headers: IncomingHttpHeaders): boolean {
    // `null` (sandboxed frames, file: pages) and other non-URLs are never allowed.
    const page = URL.canParse(origin) ? new URL(origin) : undefined;
    return page !== undefined && (page.host === headers.host?.toLowerCase() || this.allowed.has(page.origin));
  }
}

/**
 * Answers an upgrade refused by the policy with 403 and the reason, as JSON like every HTTP error.
 *
 * Not checked at all: the signalling endpoint `/v1`, whose only credentials
 * are `?token=` and `?key=` in the URL the page wrote itself (keys carry their
 * own origin list), and MQTT over WebSocket without a certificate, whose
 * credentials are in the MQTT CONNECT the page writes. Neither reads a cookie
 * or an Authorization header (test/upgrade-origin.e2e-spec.ts).
 */
export function refuseUpgrade(socket: Duplex, reason: string): void {
  const body = JSON.stringify({ error: 'origin_not_allowed', message: reason });
  socket.end(
    'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
      `X-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

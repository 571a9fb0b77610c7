import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Injectable } from '@nestjs/common';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * One `upgrade` listener on the HTTP server hands each WebSocket upgrade to the
 * owner of its path (`/mqtt`, `/ws/iot/…`, `/v1`), so servers sharing the port
 * never fight over a socket.
 */
@Injectable()
export class UpgradeRouter {
  private readonly routes: { matches: (pathname: string) => boolean; handler: UpgradeHandler }[] = [];

  register(matches: (pathname: string) => boolean, handler: UpgradeHandler): void {
    this.routes.push({ matches, handler });
  }

  /** Answers 404 and closes when no owner claims the path. */
  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    const route = this.routes.find((r) => r.matches(pathname));
    if (route) return route.handler(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  };
}

import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

/**
 * The reverse proxy of deploy/nginx.conf, on loopback, for the cluster
 * suite (no nginx here): requests and WebSocket upgrades go round-robin to
 * the instances, `/socket.io/` sticks to one instance per client address
 * (nginx `ip_hash`: engine.io's long-polling requests must reach the
 * instance that holds their session), and responses stream through unbuffered
 * (`proxy_buffering off`).
 */
export class Balancer {
  private server: http.Server | undefined;
  private next = 0;
  private readonly sockets = new Set<net.Socket>();
  url = '';
  /** Which upstream each request went to, in order (to show the requests really were spread). */
  readonly picks: string[] = [];

  constructor(private readonly upstreams: () => string[]) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) =>
      this.tunnel(req, socket, head),
    );
    this.server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private pick(req: http.IncomingMessage): URL {
    const all = this.upstreams();
    let index: number;
    if ((req.url ?? '').startsWith('/socket.io/')) {
      const digest = createHash('sha1')
        .update(req.socket.remoteAddress ?? '')
        .digest();
      index = digest.readUInt32BE(0) % all.length;
    } else index = this.next++ % all.length;
    this.picks.push(all[index]);
    return new URL(all[index]);
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = this.pick(req);
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  private tunnel(req: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    const target = this.pick(req);
    const upstream = net.connect(Number(target.port), target.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}

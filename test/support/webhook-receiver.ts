import type { IncomingHttpHeaders } from 'node:http';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DeviceEvent } from '../../src/bus/device-event';
import { verifySignature } from '../../src/connectors/signature';

/** One request a receiver got. */
export interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: {
    connector: string;
    delivery_id: string;
    events: DeviceEvent[];
    reset?: { requested: string; retained_after: string };
    test?: boolean;
  };
  /** Whether it answered 2xx (what the connector counts as delivered). */
  acknowledged: boolean;
  /** When it arrived (ms since the epoch). */
  at: number;
}

export interface DeliveryCounts {
  events: number;
  missing: number;
  duplicated: number;
  reordered: number;
  requests: number;
}

/** How the receiver answers the next request: a status, after an optional delay; `hang` never answers. */
export type Answer = { status: number; delayMs?: number; body?: string } | 'hang';

/**
 * A webhook receiver on loopback, as a connector's user would run one: it
 * records every request and answers as the test tells it (200 by default).
 */
export class WebhookReceiver {
  readonly requests: Received[] = [];
  private readonly server: http.Server;
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  /** The most requests it was answering at one time. */
  maxInFlight = 0;
  /** Decides each answer; 200 at once unless replaced. */
  answer: (request: Received) => Answer = () => ({ status: 200 });

  constructor() {
    this.server = http.createServer((req, res) => {
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
      res.on('close', () => this.inFlight--);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const request: Received = {
          headers: req.headers,
          raw,
          body: JSON.parse(raw) as Received['body'],
          acknowledged: false,
          at: Date.now(),
        };
        this.requests.push(request);
        const answer = this.answer(request);
        if (answer === 'hang') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        const reply = (): void => {
          // A sender that gave up (its timeout) never sees the answer: not acknowledged.
          request.acknowledged = answer.status >= 200 && answer.status < 300 && !req.socket.destroyed;
          res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body ?? '');
        };
        if (answer.delayMs) {
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            reply();
          }, answer.delayMs);
          this.timers.add(timer);
        } else reply();
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Every event id in the acknowledged requests, in arrival order. */
  acknowledgedIds(): string[] {
    return this.requests.filter((r) => r.acknowledged).flatMap((r) => r.body.events.map((e) => e.id));
  }

  /** Every event id received, acknowledged or not, in arrival order. */
  receivedIds(): string[] {
    return this.requests.flatMap((r) => r.body.events.map((e) => e.id));
  }

  /**
   * The fault count of a delivery: of the `expected` event ids (in log
   * order), how many never came in an acknowledged request, how many came
   * more than once (received again after a request that was acknowledged or
   * left hanging: at least once allows it, and the fault tests print it), and
   * how many were first acknowledged out of log order.
   */
  deliveryCounts(expected: readonly string[]): DeliveryCounts {
    const acked = this.acknowledgedIds();
    const position = new Map(expected.map((id, i) => [id, i]));
    const seen = new Set<string>();
    let last = -1;
    let reordered = 0;
    for (const id of acked) {
      const at = position.get(id);
      // Events not expected (a broadcast a kill cut before its answer) are neither counted nor in the way.
      if (at === undefined || seen.has(id)) continue;
      seen.add(id);
      if (at < last) reordered++;
      last = Math.max(last, at);
    }
    const received = this.receivedIds();
    return {
      events: expected.length,
      missing: expected.filter((id) => !seen.has(id)).length,
      duplicated: received.length - new Set(received).size,
      reordered,
      requests: this.requests.length,
    };
  }

  /**
   * Events received again, split by the sender's lifetimes: `restarts` are
   * request counts (`requests.length`) at which the sender was killed.
   * `within`: received twice within one lifetime (at least once never needs
   * it: 0 when the cursor works). `afterRestart[k]`: events the k-th
   * lifetime after a kill received that an earlier one had (the batch in
   * flight, and those acknowledged whose cursor commit the kill cut short).
   */
  repeats(restarts: readonly number[]): { within: number; afterRestart: number[] } {
    const afterRestart = restarts.map(() => 0);
    let within = 0;
    let lifetime = 0;
    const earlier = new Set<string>();
    let current = new Set<string>();
    this.requests.forEach((r, i) => {
      while (lifetime < restarts.length && i >= restarts[lifetime]) {
        lifetime++;
        for (const id of current) earlier.add(id);
        current = new Set();
      }
      for (const e of r.body.events) {
        if (current.has(e.id)) within++;
        else if (earlier.has(e.id)) afterRestart[lifetime - 1]++;
        current.add(e.id);
      }
    });
    return { within, afterRestart };
  }

  /** True when the request's signature verifies with `secret`. */
  static signed(request: Received, secret: string): boolean {
    const header = request.headers['devicehub-signature'];
    return verifySignature(secret, request.raw, typeof header === 'string' ? header : undefined, Date.now() / 1000);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

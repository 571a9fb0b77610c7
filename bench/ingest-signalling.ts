/**
 * The signalling part of bench/ingest.ts (issue #15): devices that speak the
 * signalling protocol, the official `@metered-ca/realtime` SignallingClient
 * each with its own device token, publish data on
 * `things/sigdev/dev-{c}/data`. The bridge acknowledges a publish only once
 * its event is in the log, so the rate of acknowledgements is the ingest
 * rate, as with MQTT QoS 1: bench/ingest.ts runs the same workload (DEVICES
 * connections, `window` publishes unacknowledged each) over MQTT in the same
 * run to compare.
 *
 * The protocol holds each connection to 100 msg/s (bursts of 200; close
 * 4011): DEVICES connections can carry at most DEVICES × 100 msg/s, which
 * the table says when a run comes near it. Each client keeps under that
 * rate itself (PACE), as a well-behaved device does: acknowledgements
 * alone paced them, and once commits came quicker than 100 ms a
 * connection's ten went over the rate and the run failed with 4011.
 */
import { SignallingClient } from '@metered-ca/realtime';
import WebSocket from 'ws';
import type { RunningApp } from '../src/app';
import { RATE_BURST, RATE_PER_SECOND, TokenBucket } from '../src/signalling/connection-limits';
import { DeviceTokensService } from '../src/signalling/device-tokens.service';

export const SIGNALLING_TYPE = 'sigdev';

/**
 * A client's own bucket, a margin inside the server's: messages reach the
 * server later than they leave, and not as evenly.
 */
const PACE = { perSecond: 0.95 * RATE_PER_SECOND, burst: RATE_BURST / 2 };
/** How long a client whose bucket is empty waits before it tries again. */
const PACE_RETRY_MS = 5;

export interface SignallingRun {
  seconds: number;
  acknowledged: number;
  /** The per-connection rate limit times the connections: the most this workload can carry. */
  ceiling: number;
}

/**
 * `connections` SDK clients publish `count` messages between them, each
 * keeping at most `window` unacknowledged; resolves with the seconds until
 * the last acknowledgement.
 */
export async function publishSignalling(
  app: RunningApp,
  connections: number,
  window: number,
  count: number,
  payload: (i: number) => object,
): Promise<SignallingRun> {
  const tokens = app.app.get(DeviceTokensService);
  const origin = app.url.replace(/^http/, 'ws');
  const clients = await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const { token } = await tokens.mintDevice(SIGNALLING_TYPE, `dev-${c}`, 3600);
      const client = new SignallingClient({
        tokenProvider: () => Promise.resolve(token),
        url: origin,
        reconnect: false,
        webSocketFactory: (url) => new WebSocket(url),
      });
      await client.connect();
      return client;
    }),
  );
  let acknowledged = 0;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    clients.forEach((client, c) => {
      // Connection c sends messages c, c + n, c + 2n, …, as the MQTT workload does.
      let next = c;
      let inFlight = 0;
      let waiting = false;
      const bucket = new TokenBucket(PACE.perSecond, PACE.burst);
      const pump = (): void => {
        while (!failed && !waiting && inFlight < window && next < count) {
          if (!bucket.take()) {
            waiting = true;
            setTimeout(() => {
              waiting = false;
              pump();
            }, PACE_RETRY_MS);
            return;
          }
          const i = next;
          next += clients.length;
          inFlight++;
          client.publish(`things/${SIGNALLING_TYPE}/dev-${c}/data`, payload(i)).then(
            () => {
              inFlight--;
              if (++acknowledged >= count) resolve();
              pump();
            },
            (err: unknown) => {
              failed = true;
              reject(err instanceof Error ? err : new Error(String(err)));
            },
          );
        }
      };
      pump();
    });
  });
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.close()));
  return { seconds, acknowledged, ceiling: connections * RATE_PER_SECOND };
}

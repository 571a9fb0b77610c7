/**
 * The QoS 1 part of bench/ingest.ts (issue #11, item 6): with acknowledgement
 * after commit, a PUBACK from the bridge means the event is in the log, so a
 * publisher's rate of acknowledgements is the ingest rate. Two workloads,
 * each against the bare broker (the same publishers to a plain QoS 1
 * subscriber) in the same run:
 * - devices: DEVICES connections, one per device, each keeping at most
 *   `deviceWindow` messages unacknowledged (a small device's in-flight limit);
 * - gateway: one connection publishing for GATEWAY_DEVICES devices, at most
 *   `gatewayWindow` unacknowledged.
 */
import mqtt from 'mqtt';

export const DEVICES = 100;
export const GATEWAY_DEVICES = 1000;

export interface Qos1Workload {
  name: string;
  connections: number;
  window: number;
  /** Topic of message `i` of connection `c`, under `root` (`bare` or `things`). */
  topic(root: string, c: number, i: number): string;
}

export function workloads(deviceWindow: number, gatewayWindow: number): Qos1Workload[] {
  return [
    {
      name: `${DEVICES} devices, ${deviceWindow} in flight each`,
      connections: DEVICES,
      window: deviceWindow,
      topic: (root, c) => `${root}/qos1dev/dev-${c}/data`,
    },
    {
      name: `1 gateway for ${GATEWAY_DEVICES} devices, ${gatewayWindow} in flight`,
      connections: 1,
      window: gatewayWindow,
      topic: (root, _c, i) => `${root}/qos1gw/dev-${i % GATEWAY_DEVICES}/data`,
    },
  ];
}

/**
 * The workload's connections publish `count` QoS 1 messages between them;
 * resolves with the seconds until the last PUBACK (and until `alsoDone`
 * holds, for the bare broker's subscriber).
 */
export async function publishQos1(
  url: string,
  workload: Qos1Workload,
  root: string,
  count: number,
  payload: (i: number) => string,
  alsoDone: () => boolean = () => true,
): Promise<{ seconds: number; acknowledged: number }> {
  const clients = await Promise.all(
    Array.from({ length: workload.connections }, (_, c) =>
      mqtt.connectAsync(url, { clientId: `bench-q1-${root}-${c}-${process.pid}`, reconnectPeriod: 0 }),
    ),
  );
  let acknowledged = 0;
  let failed: Error | undefined;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (failed) reject(failed);
      else if (acknowledged >= count && alsoDone()) resolve();
      else if (acknowledged >= count) setTimeout(check, 2);
    };
    clients.forEach((client, c) => {
      // Connection c sends messages c, c + n, c + 2n, …: every connection its share, in order.
      let next = c;
      let inFlight = 0;
      const pump = (): void => {
        while (inFlight < workload.window && next < count) {
          const i = next;
          next += clients.length;
          inFlight++;
          client.publish(workload.topic(root, c, i), payload(i), { qos: 1 }, (err) => {
            inFlight--;
            if (err) failed ??= err;
            else acknowledged++;
            pump();
            check();
          });
        }
      };
      pump();
    });
  });
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.endAsync()));
  return { seconds, acknowledged };
}

/** The broker alone: the workload's publishers and a QoS 1 subscriber of `bare/#`. */
export async function bareQos1(
  url: string,
  workload: Qos1Workload,
  count: number,
  payload: (i: number) => string,
): Promise<number> {
  const sub = await mqtt.connectAsync(url, { clientId: `bench-q1-sub-${process.pid}` });
  let received = 0;
  sub.on('message', () => received++);
  await sub.subscribeAsync('bare/#', { qos: 1 });
  const { seconds } = await publishQos1(url, workload, 'bare', count, payload, () => received >= count);
  await sub.endAsync();
  return count / seconds;
}

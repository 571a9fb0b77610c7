import { createServer } from 'node:net';
import mqtt from 'mqtt';
import { waitFor } from './wait';

/**
 * What the fault suites (issue #11) share: devices publishing numbered QoS 1
 * messages with a `message_id`, and the count of what the log holds of what
 * they saw acknowledged: missing, duplicated, reordered.
 */

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface PublisherOptions {
  /** Messages per second. @default 25 */
  rate?: number;
  /** Messages sent and not yet acknowledged, at most. @default 40 */
  inFlight?: number;
  /** Put a `message_id` in each payload, as field devices are told to. @default true */
  messageIds?: boolean;
}

/** What the counts read of a device that publishes 1, 2, 3, …: its id, how many it sent, and which were acknowledged. */
export interface Counted {
  readonly deviceId: string;
  readonly acknowledged: readonly number[];
  readonly published: number;
  readonly settled: boolean;
  stop(): void;
}

/** A device publishing 1, 2, 3, … until told to stop; what the broker acknowledged, in order. */
export class NumberedPublisher implements Counted {
  readonly acknowledged: number[] = [];
  readonly client: mqtt.MqttClient;
  private next = 1;
  private inFlight = 0;
  private stopped = false;
  private tokens = 0;
  private readonly ticker: NodeJS.Timeout;
  private readonly rate: number;
  private readonly maxInFlight: number;
  private readonly messageIds: boolean;

  constructor(
    url: string,
    readonly deviceId: string,
    private readonly topic: string,
    options: PublisherOptions = {},
  ) {
    this.rate = options.rate ?? 25;
    this.maxInFlight = options.inFlight ?? 40;
    this.messageIds = options.messageIds ?? true;
    // A persistent client: it keeps unacknowledged messages and sends them again on reconnect.
    this.client = mqtt.connect(url, { clientId: `fault-${deviceId}`, reconnectPeriod: 100, connectTimeout: 2000 });
    this.client.on('error', () => undefined);
    this.client.on('connect', () => this.fill());
    this.ticker = setInterval(() => {
      this.tokens = Math.min(this.tokens + this.rate / 20, this.rate / 5);
      this.fill();
    }, 50);
  }

  get published(): number {
    return this.next - 1;
  }

  get settled(): boolean {
    return this.inFlight === 0;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.ticker);
  }

  close(): void {
    this.stop();
    this.client.end(true);
  }

  private fill(): void {
    while (!this.stopped && this.client.connected && this.inFlight < this.maxInFlight && this.tokens >= 1) {
      this.tokens--;
      const seq = this.next++;
      this.inFlight++;
      const payload = JSON.stringify(this.messageIds ? { seq, message_id: `${this.deviceId}-${seq}` } : { seq });
      this.client.publish(this.topic, payload, { qos: 1 }, (err) => {
        this.inFlight--;
        if (!err) this.acknowledged.push(seq);
        this.fill();
      });
    }
  }
}

/** `count` devices `{prefix}/meter/{name}-{n}/data` publishing to `brokerUrl`. */
export function startPublishers(
  brokerUrl: string,
  topicPrefix: string,
  name: string,
  count: number,
  options?: PublisherOptions,
): NumberedPublisher[] {
  const publishers: NumberedPublisher[] = [];
  for (let d = 1; d <= count; d++) {
    const deviceId = `${name}-${d}`;
    publishers.push(new NumberedPublisher(brokerUrl, deviceId, `${topicPrefix}/meter/${deviceId}/data`, options));
  }
  return publishers;
}

export function acknowledgedCount(publishers: readonly Counted[]): number {
  return publishers.reduce((n, p) => n + p.acknowledged.length, 0);
}

/** Waits until the publishers have sent `more` further acknowledged messages. */
export async function acknowledgedMore(
  publishers: readonly Counted[],
  more: number,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const target = acknowledgedCount(publishers) + more;
  await waitFor(
    () => (acknowledgedCount(publishers) >= target ? true : undefined),
    `${target} acknowledgements (${what})`,
    timeoutMs,
  );
}

/** Stops the publishers and waits until every message they sent is acknowledged. */
export async function stopAndSettle(publishers: readonly Counted[], timeoutMs = 30_000): Promise<void> {
  publishers.forEach((p) => p.stop());
  await waitFor(
    () => (publishers.every((p) => p.settled) ? true : undefined),
    'every message sent acknowledged',
    timeoutMs,
  );
}

/** Every data event of one meter in log order (its status events carry no seq), read through the poll API as a client would. */
export async function loggedSeqs(baseUrl: string, deviceId: string): Promise<number[]> {
  const seqs: number[] = [];
  let cursor = '0';
  for (;;) {
    const res = await fetch(`${baseUrl}/iot/poll/meter/${deviceId}/?cursor=${cursor}&limit=1000&event_types=data`);
    if (res.status !== 200) throw new Error(`poll of ${deviceId} answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as { events: { data: { seq: number } }[]; cursor: string };
    seqs.push(...page.events.map((e) => e.data.seq));
    if (page.events.length === 0) return seqs;
    cursor = page.cursor;
  }
}

export interface FaultCounts {
  published: number;
  acknowledged: number;
  found: number;
  missing: number;
  duplicated: number;
  reordered: number;
}

/**
 * Compares what each publisher saw acknowledged with what the log at
 * `baseUrl` holds for it. Waits (up to `timeoutMs`) for the acknowledged
 * messages to appear first: an external broker hands the bridge what it
 * queued during a fault a little later.
 */
export function countLogged(
  baseUrl: string,
  publishers: readonly Counted[],
  timeoutMs = 20_000,
): Promise<{ counts: FaultCounts; problems: string[] }> {
  return countSeqs(publishers, (deviceId) => loggedSeqs(baseUrl, deviceId), 'messages in the log', timeoutMs);
}

/**
 * The readings history's side of the same count: each meter's `seq`
 * readings, oldest first. Readings are written a moment after their events,
 * by whichever instance projects.
 */
export function countReadings(
  baseUrl: string,
  publishers: readonly Counted[],
  timeoutMs = 20_000,
): Promise<{ counts: FaultCounts; problems: string[] }> {
  const read = async (deviceId: string): Promise<number[]> => {
    const res = await fetch(`${baseUrl}/api/devices/meter/${deviceId}/readings?reading=seq&limit=10000`);
    if (res.status !== 200) throw new Error(`readings of ${deviceId} answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { readings: { value: number }[] }).readings.map((r) => r.value);
  };
  return countSeqs(publishers, read, 'readings', timeoutMs);
}

/** Waits for each publisher's acknowledged numbers in what `read` returns, then counts what is missing, twice, out of order. */
async function countSeqs(
  publishers: readonly Counted[],
  read: (deviceId: string) => Promise<number[]>,
  what: string,
  timeoutMs: number,
): Promise<{ counts: FaultCounts; problems: string[] }> {
  const counts: FaultCounts = { published: 0, acknowledged: 0, found: 0, missing: 0, duplicated: 0, reordered: 0 };
  const problems: string[] = [];
  for (const publisher of publishers) {
    const wanted = publisher.acknowledged;
    const seqs = await waitFor(
      async () => {
        const have = new Set(await read(publisher.deviceId).catch(() => []));
        return wanted.every((seq) => have.has(seq)) ? true : undefined;
      },
      `${publisher.deviceId}'s acknowledged ${what}`,
      timeoutMs,
    )
      .catch(() => undefined) // the counts below say what is missing
      .then(() => read(publisher.deviceId));
    const seen = new Set<number>();
    let last = 0;
    for (const seq of seqs) {
      if (seen.has(seq)) counts.duplicated++;
      else if (seq < last) counts.reordered++;
      seen.add(seq);
      last = Math.max(last, seq);
    }
    const missing = wanted.filter((seq) => !seen.has(seq));
    if (missing.length > 0) problems.push(`${publisher.deviceId}'s ${what} miss ${missing.slice(0, 10).join(', ')}`);
    counts.published += publisher.published;
    counts.acknowledged += wanted.length;
    counts.found += seen.size;
    counts.missing += missing.length;
  }
  return { counts, problems };
}

/** The one line per fault CI logs: `fault NAME backend=… acknowledged=N found=N missing=N duplicated=N reordered=N …`. */
export function faultLine(
  name: string,
  backend: string,
  counts: FaultCounts,
  extra: Record<string, unknown> = {},
): string {
  const { published, ...rest } = counts;
  const fields = { ...rest, published, ...extra };
  return `fault ${name} backend=${backend} ${Object.entries(fields)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')}`;
}

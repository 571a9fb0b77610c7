/**
 * The routing half of bench/signalling.ts (issue #4): what finding a
 * message's subscribers costs per message as the number of distinct
 * subscription patterns grows. Not a benchmark of its own.
 */
import { ChannelMatcher, compileChannelPattern } from '../src/auth/channel-pattern';
import type { SignallingHubService } from '../src/signalling/signalling-hub.service';
import type { PeerSocket } from '../src/signalling/signalling-peer';
import { SubscriptionIndex } from '../src/signalling/subscription-index';

/**
 * N distinct patterns of every kind the index handles, four per device:
 * exact, a bare `*` segment, a prefix glob and a `**` tail.
 */
function patterns(n: number): string[] {
  const list: string[] = [];
  for (let i = 0; list.length < n; i++) {
    const device = Math.floor(i / 4);
    const site = `site-${device % 50}`;
    switch (i % 4) {
      case 0:
        list.push(`fleet/${site}/sensor-${device}/telemetry`);
        break;
      case 1:
        list.push(`fleet/${site}/*/alarm-${device}`);
        break;
      case 2:
        list.push(`fleet/${site}/sensor-${device}-*/status`);
        break;
      default:
        list.push(`fleet/${site}/sensor-${device}/**`);
    }
  }
  return list;
}

/**
 * Channels of the devices the patterns cover, in turn: telemetry (matched
 * by the exact and `**` patterns), an alarm (`*` and `**`), a status of a
 * sub-sensor (the prefix glob).
 */
function channels(n: number, count: number): string[] {
  const devices = Math.max(1, Math.floor(n / 4));
  return Array.from({ length: count }, (_, k) => {
    const device = (k * 7919) % devices;
    const base = `fleet/site-${device % 50}/sensor-${device}`;
    return k % 3 === 0 ? `${base}/telemetry` : k % 3 === 1 ? `${base}/alarm-${device}` : `${base}-2/status`;
  });
}

export interface RoutingRow {
  patterns: number;
  indexUs: number;
  hubUs: number;
  scanUs: number;
  matchedPerMessage: number;
}

/** Mean µs per call of `fn` over `rounds` passes of the channels. */
function time(channels: readonly string[], rounds: number, fn: (channel: string) => void): number {
  const started = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const c of channels) fn(c);
  return Number(process.hrtime.bigint() - started) / 1000 / (rounds * channels.length);
}

export function routing(n: number, newHub: () => SignallingHubService): RoutingRow {
  const list = patterns(n);
  const sample = channels(n, 1000);

  const index = new SubscriptionIndex<number>();
  list.forEach((p, i) => index.add(p, i, true));
  let matched = 0;
  time(sample, 20, (c) => index.match(c, () => {}));
  const indexUs = time(sample, 100, (c) => index.match(c, () => matched++));
  const matchedPerMessage = matched / (100 * sample.length);

  const hub = newHub();
  const sink: PeerSocket = { send: () => {}, close: () => {}, bufferedAmount: 0 };
  list.forEach((pattern, i) => {
    const peer = hub.connect(
      {
        peerId: `p${i}`,
        expiresAt: null,
        channels: ['**'],
        matcher: new ChannelMatcher(['**']),
        permissions: new Set(['subscribe']),
      },
      sink,
    );
    hub.handle(peer, { type: 'subscribe', channel: pattern, includeSenderMetadata: false });
  });
  const json = JSON.stringify({ temperature: 21.5, humidity: 40 });
  time(sample, 20, (c) => hub.publishFromServer(c, json));
  const hubUs = time(sample, 100, (c) => hub.publishFromServer(c, json));

  // About two million regex tests, whatever the pattern count.
  const regexes = list.map(compileChannelPattern);
  const scanned = sample.slice(0, Math.max(1, Math.min(sample.length, Math.round(2_000_000 / n))));
  const scanUs = time(scanned, 1, (c) => {
    for (const re of regexes) if (re.test(c)) matched++;
  });
  return { patterns: n, indexUs, hubUs, scanUs, matchedPerMessage };
}

import type { DeviceEvent } from '../bus/device-event';

/**
 * A device event's signalling channel, `{prefix}/{type}/{id}/{event}` (bridge.md,
 * "Signalling mirror"): what the mirror publishes it on and what token `channels`
 * claims are matched against.
 */
export function eventChannel(prefix: string, event: Pick<DeviceEvent, 'device_type' | 'device_id' | 'event'>): string {
  return `${prefix}/${event.device_type}/${event.device_id}/${event.event}`;
}

/**
 * The channel matcher of signalling-protocol.md, "Channels": `*` matches any
 * run of characters except `/`, `**` any run including `/`, `\*` and `\\`
 * escape. The same matcher serves JWT `channels` claims and, later, wildcard
 * subscriptions.
 */
export function compileChannelPattern(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\' && (pattern[i + 1] === '*' || pattern[i + 1] === '\\')) {
      source += `\\${pattern[++i]}`;
    } else if (ch === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (ch === '*') {
      source += '[^/]*';
    } else {
      source += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 's');
}

/** Tests channels against a set of patterns (a token's `channels` claim). */
export class ChannelMatcher {
  private readonly regexes: RegExp[];
  constructor(readonly patterns: readonly string[]) {
    this.regexes = patterns.map(compileChannelPattern);
  }

  matches(channel: string): boolean {
    return this.regexes.some((re) => re.test(channel));
  }
}

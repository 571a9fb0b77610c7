import type { DeviceChannelKind, DeviceChannelMapping } from '../config/app-config';
import { NAME_PATTERN } from '../common/validate';

/** One device's channel: whose it is and what it carries. */
export interface DeviceChannel {
  deviceType: string;
  deviceId: string;
  kind: DeviceChannelKind;
}

/** Kinds a device publishes (device to server); `cmd` goes the other way. */
export const DEVICE_TO_SERVER: ReadonlySet<DeviceChannelKind> = new Set(['data', 'status', 'cmd/response']);

/** Which mapped kind carries events of this name, when mirrored onto an operator's layout. */
const KIND_OF_EVENT: Record<string, DeviceChannelKind> = {
  data: 'data',
  status: 'status',
  command_response: 'cmd/response',
};

interface Template {
  levels: readonly string[];
  type?: string;
  kind: DeviceChannelKind;
}

/**
 * Signalling channels that belong to devices (issue #15): the standard
 * `{prefix}/{type}/{id}/data|status|cmd|cmd/response`, as the MQTT topics,
 * and the operator's own layouts (`SIGNALLING_DEVICE_CHANNELS`, e.g.
 * `fleet/{id}/telemetry` for sensors' data). Pure: names in, names out.
 */
export class DeviceChannels {
  private readonly byLevels = new Map<number, Template[]>();
  private readonly templates: Template[];
  private readonly prefixLevel: string;

  constructor(
    private readonly prefix: string,
    mappings: readonly DeviceChannelMapping[],
  ) {
    this.prefixLevel = `${prefix}/`;
    this.templates = mappings.map((m) => ({
      levels: m.template.split('/'),
      kind: m.kind,
      ...(m.type !== undefined ? { type: m.type } : {}),
    }));
    for (const t of this.templates) {
      const same = this.byLevels.get(t.levels.length) ?? [];
      same.push(t);
      this.byLevels.set(t.levels.length, same);
    }
  }

  /** The device and kind a channel names, or undefined for any other channel. */
  route(channel: string): DeviceChannel | undefined {
    // Every signalling publish asks: the common answer (no mappings, another prefix) costs no split.
    if (this.templates.length === 0 && !channel.startsWith(this.prefixLevel)) return undefined;
    const levels = channel.split('/');
    if (levels[0] === this.prefix) return this.standard(levels);
    for (const t of this.byLevels.get(levels.length) ?? []) {
      let deviceType = t.type;
      let deviceId: string | undefined;
      let matched = true;
      for (let i = 0; i < levels.length && matched; i++) {
        const level = t.levels[i];
        if (level === '{id}') deviceId = levels[i];
        else if (level === '{type}') deviceType = levels[i];
        else matched = level === levels[i];
      }
      if (matched && deviceType !== undefined && deviceId !== undefined && named(deviceType, deviceId))
        return { deviceType, deviceId, kind: t.kind };
    }
    return undefined;
  }

  private standard(levels: string[]): DeviceChannel | undefined {
    const [, deviceType, deviceId, kind, sub] = levels;
    const shape =
      levels.length === 4 && (kind === 'data' || kind === 'status' || kind === 'cmd')
        ? kind
        : levels.length === 5 && kind === 'cmd' && sub === 'response'
          ? 'cmd/response'
          : undefined;
    if (shape === undefined || !named(deviceType, deviceId)) return undefined;
    return { deviceType, deviceId, kind: shape };
  }

  /** The device's channels of one kind: the standard one first, then its type's mapped ones. */
  channelsOf(deviceType: string, deviceId: string, kind: DeviceChannelKind): string[] {
    const channels = [`${this.prefix}/${deviceType}/${deviceId}/${kind}`];
    for (const t of this.templates) {
      if (t.kind === kind && (t.type === undefined || t.type === deviceType))
        channels.push(fill(t.levels, deviceType, deviceId));
    }
    return channels;
  }

  /** Mapped channels an event is mirrored on besides its standard `{prefix}/{type}/{id}/{event}`. */
  mappedEventChannels(deviceType: string, deviceId: string, event: string): string[] {
    const kind = KIND_OF_EVENT[event];
    if (kind === undefined || this.templates.length === 0) return [];
    return this.channelsOf(deviceType, deviceId, kind).slice(1);
  }

  /**
   * Every channel of one device, standard and mapped, as patterns that match
   * only themselves (a `*` in an id is escaped): a device token's `channels` claim.
   */
  deviceClaims(deviceType: string, deviceId: string): string[] {
    return (['data', 'status', 'cmd/response', 'cmd'] as const).flatMap((kind) =>
      this.channelsOf(deviceType, deviceId, kind).map((c) => c.replace(/[\\*]/g, '\\$&')),
    );
  }

  /**
   * Patterns covering every command channel (`{prefix}/*\/*\/cmd` and each
   * mapped `cmd` template with its placeholders as `*`): what a device or
   * gateway may subscribe to.
   */
  commandPatterns(): string[] {
    const wildcard = (levels: readonly string[]): string =>
      levels.map((l) => (l === '{id}' || l === '{type}' ? '*' : l)).join('/');
    return [`${this.prefix}/*/*/cmd`, ...this.templates.filter((t) => t.kind === 'cmd').map((t) => wildcard(t.levels))];
  }
}

function named(deviceType: string | undefined, deviceId: string | undefined): boolean {
  return (
    deviceType !== undefined && deviceId !== undefined && NAME_PATTERN.test(deviceType) && NAME_PATTERN.test(deviceId)
  );
}

function fill(levels: readonly string[], deviceType: string, deviceId: string): string {
  return levels.map((l) => (l === '{id}' ? deviceId : l === '{type}' ? deviceType : l)).join('/');
}

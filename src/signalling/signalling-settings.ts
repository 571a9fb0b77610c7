import type { Permission } from '../auth/token.service';
import { PERMISSIONS } from '../auth/token.service';
import { DomainError } from '../common/domain-error';
import type { AppConfig } from '../config/app-config';
import { channelProblem, isReservedChannel, isWildcardPattern } from './channel-rules';
import { readConfigSource } from '../config/config-source';

export const SIGNALLING_SETTINGS = Symbol('SIGNALLING_SETTINGS');

/** Patterns in a JWT `channels` claim, a key, or a room binding. */
export const MAX_PATTERNS = 100;
/** `maxConnections` of a key when the file gives none. */
export const DEFAULT_MAX_CONNECTIONS = 100;
/** `quotaPeriodSec` of a key when the file gives none: a day. */
export const DEFAULT_QUOTA_PERIOD_SEC = 86_400;
/** A key's permissions when the file gives none: Metered's default for publishable keys (no `send`). */
export const DEFAULT_KEY_PERMISSIONS: readonly Permission[] = ['subscribe', 'publish', 'presence'];

/**
 * A publishable key (`SIGNALLING_KEYS`), in its file as
 * `{"pk_live_x": {"channels": [...], "permissions": [...], "origins": [...], "maxConnections": 100}}`.
 */
export interface PublishableKey {
  key: string;
  /** Channel patterns the key's peers may use. */
  channels: string[];
  /** @default subscribe, publish, presence */
  permissions: Permission[];
  /** Allowed `Origin` values (`https://app.example.com`); `*` or none given: any origin, or none. */
  origins: string[] | '*';
  /** Concurrent connections; one more is closed with 4010. @default 100 */
  maxConnections: number;
  /** Echoed in `welcome.metadata` (ICE servers go in `metadata.iceServers`). */
  metadata?: Record<string, unknown>;
  /** A disabled key is refused with 4012 (Metered: account suspended). @default false */
  disabled: boolean;
  /**
   * Publishes and sends its peers may make together per quota period; past
   * it they fail with `over_message_quota` and the connection stays open
   * (Metered: the plan's `maxMessagesPerPeriod`). Counted per instance.
   * @default unset: no quota
   */
  maxMessagesPerPeriod?: number;
  /** Length of a quota period, in seconds; periods start at multiples of it since the Unix epoch. @default 86400 */
  quotaPeriodSec: number;
}

export interface SignallingSettings {
  keys: ReadonlyMap<string, PublishableKey>;
  /** Room bindings from `SIGNALLING_ROOMS`: room channel to device channel patterns. */
  rooms: ReadonlyMap<string, string[]>;
}

/** Start-up refuses bad signalling configuration with one message naming each problem. */
export class SignallingConfigError extends DomainError {
  constructor(readonly problems: string[]) {
    super('invalid_config', `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 500);
  }
}

const KEY_NAME = /^pk_[A-Za-z0-9_-]{1,125}$/;

/** Why a room name cannot be a room, or undefined. Rooms are concrete channels. */
export function roomProblem(room: string): string | undefined {
  const problem = channelProblem(room);
  if (problem) return problem.replace('channel', 'room');
  if (isReservedChannel(room)) return 'room uses a reserved prefix (_metered/, _internal/, _system/)';
  if (isWildcardPattern(room)) return 'room must be a channel name, not a pattern';
  return undefined;
}

/** Why a list of channel patterns is unusable, or undefined. */
export function patternsProblem(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_PATTERNS)
    return `expected a list of 1 to ${MAX_PATTERNS} channel patterns`;
  const bad: unknown = (value as unknown[]).find((p) => channelProblem(p) !== undefined);
  if (bad !== undefined) return `${JSON.stringify(bad)}: ${channelProblem(bad)}`;
  return undefined;
}

/** Reads and validates `SIGNALLING_KEYS` and `SIGNALLING_ROOMS`; throws SignallingConfigError. */
export function loadSignallingSettings(config: Pick<AppConfig['signalling'], 'keys' | 'rooms'>): SignallingSettings {
  const problems: string[] = [];
  const keys = new Map<string, PublishableKey>();
  const rooms = new Map<string, string[]>();

  const keysDoc = readConfigSource('SIGNALLING_KEYS', config.keys, problems);
  if (keysDoc !== undefined) {
    if (!isRecord(keysDoc))
      problems.push('SIGNALLING_KEYS: expected an object of publishable keys, {"pk_live_…": {"channels": [...], ...}}');
    else for (const [name, spec] of Object.entries(keysDoc)) readKey(name, spec, keys, problems);
  }

  const roomsDoc = readConfigSource('SIGNALLING_ROOMS', config.rooms, problems);
  if (roomsDoc !== undefined) {
    if (!isRecord(roomsDoc))
      problems.push('SIGNALLING_ROOMS: expected an object of rooms, {"room": ["things/camera/**"]}');
    else {
      for (const [room, patterns] of Object.entries(roomsDoc)) {
        const problem = roomProblem(room) ?? patternsProblem(patterns);
        if (problem) problems.push(`SIGNALLING_ROOMS: ${room}: ${problem}`);
        else rooms.set(room, patterns as string[]);
      }
    }
  }

  if (problems.length > 0) throw new SignallingConfigError(problems);
  return { keys, rooms };
}

function readKey(name: string, spec: unknown, keys: Map<string, PublishableKey>, problems: string[]): void {
  const at = `SIGNALLING_KEYS: ${name}`;
  const before = problems.length;
  if (!KEY_NAME.test(name))
    problems.push(`${at}: a key must look like pk_… (letters, digits, _ or -, at most 128 characters)`);
  if (!isRecord(spec))
    return void problems.push(`${at}: expected an object with channels, permissions, origins, maxConnections`);
  const channelsProblem = patternsProblem(spec.channels);
  if (channelsProblem) problems.push(`${at}.channels: ${channelsProblem}`);
  const permissions = spec.permissions ?? DEFAULT_KEY_PERMISSIONS;
  if (!Array.isArray(permissions) || !permissions.every((p) => (PERMISSIONS as readonly unknown[]).includes(p))) {
    problems.push(`${at}.permissions: expected a list drawn from ${PERMISSIONS.join(', ')}`);
  }
  const origins = readOrigins(spec.origins);
  if (origins === undefined)
    problems.push(`${at}.origins: expected "*" or a list of origins such as https://app.example.com`);
  const maxConnections = spec.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!isPositiveInteger(maxConnections)) problems.push(`${at}.maxConnections: expected a positive integer`);
  if (spec.metadata !== undefined && !isRecord(spec.metadata)) problems.push(`${at}.metadata: expected an object`);
  if (spec.disabled !== undefined && typeof spec.disabled !== 'boolean')
    problems.push(`${at}.disabled: expected true or false`);
  if (spec.maxMessagesPerPeriod !== undefined && !isPositiveInteger(spec.maxMessagesPerPeriod))
    problems.push(`${at}.maxMessagesPerPeriod: expected a positive integer`);
  const quotaPeriodSec = spec.quotaPeriodSec ?? DEFAULT_QUOTA_PERIOD_SEC;
  if (!isPositiveInteger(quotaPeriodSec)) problems.push(`${at}.quotaPeriodSec: expected a positive integer`);
  const known = new Set([
    'channels',
    'permissions',
    'origins',
    'maxConnections',
    'metadata',
    'disabled',
    'maxMessagesPerPeriod',
    'quotaPeriodSec',
  ]);
  const unknown = Object.keys(spec).filter((k) => !known.has(k));
  if (unknown.length > 0) problems.push(`${at}: unknown field(s) ${unknown.join(', ')}`);
  if (problems.length > before) return;
  keys.set(name, {
    key: name,
    channels: spec.channels as string[],
    permissions: [...new Set(permissions as Permission[])],
    origins: origins as string[] | '*',
    maxConnections: maxConnections as number,
    ...(spec.metadata !== undefined ? { metadata: spec.metadata as Record<string, unknown> } : {}),
    disabled: spec.disabled === true,
    ...(spec.maxMessagesPerPeriod !== undefined ? { maxMessagesPerPeriod: spec.maxMessagesPerPeriod as number } : {}),
    quotaPeriodSec: quotaPeriodSec as number,
  });
}

/** `*`, absent, or a list of origins (normalised by `URL`); undefined when malformed. */
function readOrigins(value: unknown): string[] | '*' | undefined {
  if (value === undefined || value === '*') return '*';
  if (!Array.isArray(value) || value.length === 0) return undefined;
  if (value.includes('*')) return '*';
  const origins: string[] = [];
  for (const item of value) {
    const origin = normaliseOrigin(item);
    if (origin === undefined) return undefined;
    origins.push(origin);
  }
  return origins;
}

/** `scheme://host[:port]` in URL's canonical form, or undefined. */
export function normaliseOrigin(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    if (url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '')
      return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

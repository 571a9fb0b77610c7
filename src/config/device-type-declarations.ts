import { nameMap } from '../common/name-map';
import { NAME_PATTERN } from '../common/validate';
import type { CommandSpec, DeviceTypeSpec, ReadingSpec } from './device-types';

/**
 * Reading a device-type file (`DEVICE_TYPES`) into specs, collecting every
 * problem; the format and the decisions behind it are described on
 * `DeviceTypes` in device-types.ts.
 */

/** Heartbeat interval of undeclared types and of declared types that name none (bridge.md). */
export const DEFAULT_HEARTBEAT_SEC = 300;

const VALUE_TYPES: readonly ReadingSpec['type'][] = ['number', 'integer', 'boolean', 'string'];

/**
 * Type names, lower-cased: ours, Django DeviceHub's `reading_types`
 * constants (`FLOAT`, `INTEGER`, `BOOLEAN`, `STRING`), and the Python types
 * its command payloads name (`{"interval": int}`).
 */
const TYPE_NAMES: ReadonlyMap<string, ReadingSpec['type']> = new Map([
  ['number', 'number'],
  ['float', 'number'],
  ['integer', 'integer'],
  ['int', 'integer'],
  ['boolean', 'boolean'],
  ['bool', 'boolean'],
  ['string', 'string'],
  ['str', 'string'],
]);

/**
 * DeviceHub `Meta` options that describe the one way the bridge works: the
 * value DeviceHub defaults to is accepted (any case) and changes nothing;
 * any other is refused with what the bridge does instead.
 */
const FIXED_OPTIONS: Readonly<Record<string, { value: string; instead: string }>> = {
  protocol: { value: 'mqtt', instead: 'devices reach the bridge over MQTT only' },
  broker: { value: 'default', instead: 'the bridge uses one broker: MQTT_URL, or its embedded broker' },
  auth: { value: 'token', instead: 'devices authenticate with the credentials the admin API mints (DEVICE_AUTH)' },
  topic_template: {
    value: '{prefix}/{type_name}/{device_id}/{message_type}',
    instead: 'topics are always {prefix}/{type}/{id}/{kind}, with TOPIC_PREFIX as the prefix',
  },
};

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownKeys(at: string, value: Json, allowed: readonly string[], problems: string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) problems.push(`${at}.${key}: unknown key (expected ${allowed.join(', ')})`);
  }
}

export function readDeclarations(
  root: unknown,
  problems: string[],
): { types: Map<string, DeviceTypeSpec>; acceptUndeclared: boolean } {
  const types = new Map<string, DeviceTypeSpec>();
  if (!isObject(root)) {
    problems.push('the file must hold an object with "types" and optionally "accept_undeclared"');
    return { types, acceptUndeclared: true };
  }
  for (const key of Object.keys(root)) {
    if (key !== 'types' && key !== 'accept_undeclared') {
      problems.push(`${key}: unknown key (expected types, accept_undeclared)`);
    }
  }
  let acceptUndeclared = true;
  if (root.accept_undeclared !== undefined) {
    if (typeof root.accept_undeclared === 'boolean') acceptUndeclared = root.accept_undeclared;
    else problems.push('accept_undeclared: must be true or false');
  }
  if (root.types === undefined || root.types === null) return { types, acceptUndeclared };
  if (!isObject(root.types)) {
    problems.push('types: must be an object of device types by name');
    return { types, acceptUndeclared };
  }
  for (const [name, raw] of Object.entries(root.types)) {
    const at = `types.${name}`;
    if (!NAME_PATTERN.test(name))
      problems.push(`${at}: a device type name is 1 to 128 characters without /, +, # or whitespace`);
    const spec = readType(at, raw ?? {}, problems);
    if (spec) types.set(name, spec);
  }
  return { types, acceptUndeclared };
}

function readType(at: string, raw: unknown, problems: string[]): DeviceTypeSpec | undefined {
  if (!isObject(raw)) {
    problems.push(`${at}: must be an object with heartbeat_interval, readings, commands`);
    return undefined;
  }
  unknownKeys(at, raw, ['heartbeat_interval', 'readings', 'commands', ...Object.keys(FIXED_OPTIONS)], problems);
  for (const [option, fixed] of Object.entries(FIXED_OPTIONS)) {
    const value = raw[option];
    if (value !== undefined && (typeof value !== 'string' || value.toLowerCase() !== fixed.value)) {
      problems.push(`${at}.${option}: only ${JSON.stringify(fixed.value)} is served (${fixed.instead})`);
    }
  }
  let heartbeatIntervalSec = DEFAULT_HEARTBEAT_SEC;
  if (raw.heartbeat_interval !== undefined) {
    const h = raw.heartbeat_interval;
    if (typeof h === 'number' && Number.isFinite(h) && h > 0) heartbeatIntervalSec = h;
    else problems.push(`${at}.heartbeat_interval: must be a positive number of seconds`);
  }
  const readings = nameMap<ReadingSpec>();
  for (const [name, field] of entries(`${at}.readings`, raw.readings, problems)) {
    const spec = readField(`${at}.readings.${name}`, field, false, problems);
    if (spec) readings[name] = spec;
  }
  const commands = nameMap<CommandSpec>();
  for (const [name, command] of entries(`${at}.commands`, raw.commands, problems)) {
    const cat = `${at}.commands.${name}`;
    if (!isObject(command ?? {})) {
      problems.push(`${cat}: must be an object with payload`);
      continue;
    }
    const c = (command ?? {}) as Json;
    unknownKeys(cat, c, ['payload'], problems);
    const payload: CommandSpec['payload'] = nameMap();
    for (const [field, value] of entries(`${cat}.payload`, c.payload, problems)) {
      const spec = readField(`${cat}.payload.${field}`, value, true, problems);
      if (spec) payload[field] = spec;
    }
    commands[name] = { payload };
  }
  return { heartbeatIntervalSec, readings, commands };
}

function entries(at: string, value: unknown, problems: string[]): [string, unknown][] {
  if (value === undefined || value === null) return [];
  if (!isObject(value)) {
    problems.push(`${at}: must be an object keyed by name`);
    return [];
  }
  return Object.entries(value);
}

function readField(
  at: string,
  raw: unknown,
  commandField: boolean,
  problems: string[],
): (ReadingSpec & { required?: boolean }) | undefined {
  // DeviceHub's shorthand: a bare type name, `interval: int`.
  if (typeof raw === 'string') raw = { type: raw };
  if (!isObject(raw)) {
    problems.push(
      `${at}: must be a type name or an object with type${commandField ? ', range, required' : ', unit, range'}`,
    );
    return undefined;
  }
  unknownKeys(at, raw, commandField ? ['type', 'unit', 'range', 'required'] : ['type', 'unit', 'range'], problems);
  const type = typeof raw.type === 'string' ? TYPE_NAMES.get(raw.type.toLowerCase()) : undefined;
  if (type === undefined) {
    const given = raw.type === undefined ? 'missing' : `got ${JSON.stringify(raw.type)}`;
    problems.push(
      `${at}.type: must be one of ${VALUE_TYPES.join(', ')} or DeviceHub's FLOAT, INTEGER, BOOLEAN, STRING, float, int, bool, str, any case (${given})`,
    );
    return undefined;
  }
  const spec: ReadingSpec & { required?: boolean } = { type };
  if (raw.unit !== undefined) {
    if (typeof raw.unit === 'string') spec.unit = raw.unit;
    else problems.push(`${at}.unit: must be a string`);
  }
  if (raw.range !== undefined) {
    const r = raw.range;
    if (type !== 'number' && type !== 'integer') {
      problems.push(`${at}.range: only number and integer readings have a range`);
    } else if (
      Array.isArray(r) &&
      r.length === 2 &&
      r.every((n) => typeof n === 'number' && Number.isFinite(n)) &&
      (r[0] as number) <= (r[1] as number)
    ) {
      spec.range = [r[0] as number, r[1] as number];
    } else {
      problems.push(`${at}.range: must be [min, max] with min <= max`);
    }
  }
  if (commandField) {
    if (raw.required === undefined) spec.required = true;
    else if (typeof raw.required === 'boolean') spec.required = raw.required;
    else problems.push(`${at}.required: must be true or false`);
  }
  return spec;
}

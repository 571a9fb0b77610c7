import { readFileSync } from 'node:fs';
import { Injectable } from '@nestjs/common';
import { parseDocument } from 'yaml';
import { DomainError } from '../common/domain-error';
import { DEFAULT_HEARTBEAT_SEC, readDeclarations } from './device-type-declarations';

/**
 * Device-type declarations (`DEVICE_TYPES`, bridge.md "MQTT (devices)"), a JSON
 * or YAML file:
 *
 * ```yaml
 * accept_undeclared: false        # default true: declaring types narrows only what is declared
 * types:
 *   weatherstation:
 *     heartbeat_interval: 60      # seconds; default 300
 *     readings:
 *       temperature: {type: number, unit: "°C", range: [-40, 85]}
 *       door_open: {type: boolean}
 *     commands:
 *       set_interval:
 *         payload:
 *           interval: {type: integer, range: [1, 3600]}          # required unless `required: false`
 *           reason: {type: string, required: false}
 *       reboot: {}                 # no payload fields
 * ```
 *
 * Django DeviceHub's declarations read as they are (issue #13, item 2; the
 * README has the mapping table): its type names in any case (`FLOAT`,
 * `float` for number; `INTEGER`, `int`; `BOOLEAN`, `bool`; `STRING`, `str`),
 * a bare type name as a field (`payload: {interval: int}`), and its `Meta`
 * options `protocol: mqtt`, `broker: default`, `auth: token` and the default
 * `topic_template`, which describe what the bridge does anyway; any other
 * value of those is refused at start-up, naming what the bridge does instead.
 *
 * Decisions where the issue was silent:
 * - `accept_undeclared` defaults to true, with or without a file: a file adds
 *   validation for the types it declares and refuses others only when asked to.
 * - A declared type's readings are its schema: a reading it does not declare is
 *   refused (`humidty: not a declared reading of weatherstation`), so a typo in
 *   a device or in the file shows up in `GET /admin/rejects` instead of as a new,
 *   silently stored series.
 * - Command payloads use the same field specs as readings plus `required`
 *   (default true); fields a command does not declare are refused, and a
 *   command a declared type does not declare is refused.
 * - Ranges are inclusive, apply to `number` and `integer`, and `integer` means
 *   a JSON number without a fractional part.
 * - Undeclared types (when accepted) take any readings and any command.
 */
export interface ReadingSpec {
  type: 'number' | 'integer' | 'boolean' | 'string';
  unit?: string;
  /** Inclusive bounds, numbers only. */
  range?: [number, number];
}

/** Payload fields by name; `required` is always set once loaded (default true). */
export interface CommandSpec {
  payload: Record<string, ReadingSpec & { required?: boolean }>;
}

export interface DeviceTypeSpec {
  heartbeatIntervalSec: number;
  readings: Record<string, ReadingSpec>;
  commands: Record<string, CommandSpec>;
}

export { DEFAULT_HEARTBEAT_SEC };

/** A device-type file that cannot be used; start-up stops with this message (main.ts prints it as-is). */
export class DeviceTypesError extends DomainError {
  constructor(
    source: string,
    readonly problems: string[],
  ) {
    super(
      'invalid_device_types',
      `Invalid device types in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      500,
    );
  }
}

/** The declared device types and the checks ingestion and commands make against them. */
@Injectable()
export class DeviceTypes {
  readonly acceptUndeclared: boolean;
  private readonly types: ReadonlyMap<string, DeviceTypeSpec>;

  /** No declarations: every type accepted, default heartbeat. */
  constructor(types: ReadonlyMap<string, DeviceTypeSpec> = new Map(), acceptUndeclared = true) {
    this.types = types;
    this.acceptUndeclared = acceptUndeclared;
  }

  /** Reads and validates `DEVICE_TYPES`; unset gives the accept-everything default. */
  static load(path: string | undefined): DeviceTypes {
    if (path === undefined) return new DeviceTypes();
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new DeviceTypesError(path, [`cannot be read: ${(err as { message?: string }).message ?? String(err)}`]);
    }
    return DeviceTypes.parse(text, path);
  }

  /** Parses JSON or YAML (YAML 1.2 reads JSON too) and throws one error naming every problem. */
  static parse(text: string, source = 'DEVICE_TYPES'): DeviceTypes {
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new DeviceTypesError(
        source,
        doc.errors.map((e) => e.message.split('\n')[0]),
      );
    }
    const problems: string[] = [];
    const { types, acceptUndeclared } = readDeclarations(doc.toJS() as unknown, problems);
    if (problems.length > 0) throw new DeviceTypesError(source, problems);
    return new DeviceTypes(types, acceptUndeclared);
  }

  get(type: string): DeviceTypeSpec | undefined {
    return this.types.get(type);
  }

  /** Declared, or undeclared while undeclared types are accepted. */
  isAccepted(type: string): boolean {
    return this.acceptUndeclared || this.types.has(type);
  }

  /** The declared `heartbeat_interval`, or 300 s, in ms. */
  heartbeatMs(type: string): number {
    return (this.types.get(type)?.heartbeatIntervalSec ?? DEFAULT_HEARTBEAT_SEC) * 1000;
  }

  /** What is wrong with one sample's readings; `[]` when it is fine (and always for undeclared types). */
  validateReadings(type: string, values: Record<string, unknown>): string[] {
    const spec = this.types.get(type);
    if (spec === undefined) return this.isAccepted(type) ? [] : [`device type ${type} is not declared`];
    const problems: string[] = [];
    for (const [name, value] of Object.entries(values)) {
      const reading = spec.readings[name];
      if (reading === undefined) problems.push(`${name}: not a declared reading of ${type}`);
      else checkValue(name, value, reading, problems);
    }
    return problems;
  }

  /**
   * What is wrong with a command and its payload; `[]` when it may be sent.
   * Any command goes to an accepted undeclared type.
   */
  validateCommand(type: string, command: string, payload: unknown): string[] {
    const spec = this.types.get(type);
    if (spec === undefined) return this.isAccepted(type) ? [] : [`device type ${type} is not declared`];
    const declared = spec.commands[command];
    if (declared === undefined) {
      const known = Object.keys(spec.commands);
      return [
        `command ${command} is not declared for ${type} (${known.length > 0 ? `declared: ${known.join(', ')}` : 'it declares no commands'})`,
      ];
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      return ['payload: must be a JSON object'];
    }
    const given = payload as Record<string, unknown>;
    const problems: string[] = [];
    for (const [name, field] of Object.entries(declared.payload)) {
      const value = Object.hasOwn(given, name) ? given[name] : undefined;
      if (value === undefined) {
        if (field.required !== false) problems.push(`${name}: required by command ${command}`);
      } else {
        checkValue(name, value, field, problems);
      }
    }
    for (const name of Object.keys(given)) {
      if (!(name in declared.payload)) problems.push(`${name}: not a field of command ${command}`);
    }
    return problems;
  }
}

function checkValue(name: string, value: unknown, spec: ReadingSpec, problems: string[]): void {
  const shown = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  switch (spec.type) {
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${name}: ${shown} is not a boolean`);
      return;
    case 'string':
      if (typeof value !== 'string') problems.push(`${name}: ${shown} is not a string`);
      return;
    case 'number':
    case 'integer':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        problems.push(`${name}: ${shown} is not a number`);
      } else if (spec.type === 'integer' && !Number.isInteger(value)) {
        problems.push(`${name}: ${shown} is not an integer`);
      } else if (spec.range !== undefined && (value < spec.range[0] || value > spec.range[1])) {
        problems.push(`${name}: ${shown} is outside [${spec.range[0]}, ${spec.range[1]}]`);
      }
      return;
  }
}

/** A declared field (DEVICE_TYPES file, or `GET /api/device-types/{type}`). */
export interface FieldSpec {
  type: 'number' | 'integer' | 'boolean' | 'string';
  unit?: string;
  range?: [number, number];
  required?: boolean;
}

/** What the simulator needs of a device type's declaration. */
export interface Declaration {
  heartbeatIntervalSec?: number;
  readings: Record<string, FieldSpec>;
  commands: Record<string, { payload: Record<string, FieldSpec> }>;
}

/** Readings of types nobody declared, so `--type weatherstation` looks like one without a DEVICE_TYPES file. */
const BUILT_IN: Record<string, Record<string, FieldSpec>> = {
  weatherstation: {
    temperature: { type: 'number', unit: '°C', range: [-20, 45] },
    humidity: { type: 'number', unit: '%', range: [0, 100] },
    pressure: { type: 'number', unit: 'hPa', range: [950, 1050] },
    wind_speed: { type: 'number', unit: 'm/s', range: [0, 40] },
  },
  thermostat: {
    temperature: { type: 'number', unit: '°C', range: [5, 35] },
    setpoint: { type: 'number', unit: '°C', range: [16, 26] },
    heating: { type: 'boolean' },
  },
  airquality: {
    pm25: { type: 'number', unit: 'µg/m³', range: [0, 300] },
    co2: { type: 'integer', unit: 'ppm', range: [400, 5000] },
    voc: { type: 'number', unit: 'ppb', range: [0, 1000] },
  },
};
const GENERIC: Record<string, FieldSpec> = { value: { type: 'number', range: [0, 100] } };

export function builtInReadings(type: string): Record<string, FieldSpec> {
  return BUILT_IN[type] ?? GENERIC;
}

/** A value that wanders: mean-reverting noise around a level that may follow a (compressed) daily cycle. */
class Walker {
  private value: number;
  private readonly min: number;
  private readonly max: number;

  constructor(private readonly spec: FieldSpec) {
    [this.min, this.max] = spec.range ?? (spec.type === 'integer' ? [0, 1000] : [0, 100]);
    const span = this.max - this.min;
    this.value = this.min + span * (0.25 + Math.random() * 0.5);
  }

  /** `phase` in [0, 1): where in its cycle the day is (realistic mode), undefined for a flat level. */
  next(phase: number | undefined): number {
    const span = this.max - this.min;
    const level = this.min + span * (0.5 + (phase === undefined ? 0 : 0.3 * Math.sin(2 * Math.PI * phase)));
    const noise = gaussian() * span * (phase === undefined ? 0.02 : 0.008);
    this.value = Math.min(this.max, Math.max(this.min, this.value + 0.08 * (level - this.value) + noise));
    return this.spec.type === 'integer' ? Math.round(this.value) : Math.round(this.value * 100) / 100;
  }
}

/** One device's readings, each drifting within its declared range. Strings are left out (nothing sensible to invent). */
export class ReadingsModel {
  private readonly walkers = new Map<string, Walker>();
  private readonly flags = new Map<string, boolean>();

  constructor(readings: Record<string, FieldSpec>) {
    for (const [name, spec] of Object.entries(readings)) {
      if (spec.type === 'boolean') this.flags.set(name, Math.random() < 0.5);
      else if (spec.type === 'number' || spec.type === 'integer') this.walkers.set(name, new Walker(spec));
    }
  }

  sample(phase: number | undefined): Record<string, number | boolean> {
    const out: Record<string, number | boolean> = {};
    for (const [name, w] of this.walkers) out[name] = w.next(phase);
    for (const [name, value] of this.flags) {
      const flipped = Math.random() < 0.03 ? !value : value;
      this.flags.set(name, flipped);
      out[name] = flipped;
    }
    return out;
  }
}

/** Standard normal (Box-Muller). */
function gaussian(): number {
  const u = 1 - Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

/** The file's shape (`types.{name}.heartbeat_interval`, readings, commands) into a Declaration. */
export function declarationFromFile(root: unknown, type: string): Declaration | undefined {
  const types = (root as { types?: Record<string, unknown> } | null)?.types;
  const raw = types?.[type] as
    | {
        heartbeat_interval?: number;
        readings?: Record<string, FieldSpec>;
        commands?: Record<string, { payload?: Record<string, FieldSpec> } | null>;
      }
    | null
    | undefined;
  if (raw === undefined) return undefined;
  const commands: Declaration['commands'] = {};
  for (const [name, c] of Object.entries(raw?.commands ?? {})) commands[name] = { payload: c?.payload ?? {} };
  return { heartbeatIntervalSec: raw?.heartbeat_interval, readings: raw?.readings ?? {}, commands };
}

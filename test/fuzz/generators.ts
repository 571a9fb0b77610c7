/**
 * Seeded generators for the fuzz suite (issue #18): the same seed gives the
 * same inputs, so a finding printed by CI can be replayed with FUZZ_SEED.
 */

/** mulberry32: small, fast and good enough to pick inputs. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}

/** Names that break code which keys plain objects, paths or SQL by what came off the wire. */
export const HOSTILE_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  '',
  ' ',
  '..',
  '%00',
  '\u0000',
  '\u202e',
  '😀',
  "'; DROP TABLE events; --",
  '"',
  '\\',
  '<script>alert(1)</script>',
  '$where',
  'a'.repeat(300),
  '+',
  '#',
  '_all',
] as const;

const SCALARS: readonly unknown[] = [
  0,
  -0,
  1,
  -1,
  1e308,
  -1e308,
  5e-324,
  Number.MAX_SAFE_INTEGER + 2,
  true,
  false,
  null,
  '',
  'x',
  '1',
  'NaN',
  'Infinity',
  '2026-13-45T99:99:99Z',
  '\ud800',
];

export function randomName(rng: Rng): string {
  if (rng.chance(0.5)) return rng.pick(HOSTILE_NAMES);
  const letters = 'abcdefghijklmnopqrstuvwxyz_-0123456789';
  return Array.from({ length: rng.int(1, 12) }, () => rng.pick([...letters])).join('');
}

/** A JSON-able value, shallow enough to build recursively here (deep ones come as text from `hostileJson`). */
export function randomValue(rng: Rng, depth = 0): unknown {
  const roll = rng.next();
  if (depth > 3 || roll < 0.5) return rng.pick(SCALARS);
  if (roll < 0.75) return Array.from({ length: rng.int(0, 4) }, () => randomValue(rng, depth + 1));
  const value: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (let i = rng.int(0, 4); i > 0; i--) value[randomName(rng)] = randomValue(rng, depth + 1);
  return value;
}

/** JSON text built as text, so that its depth and width never depend on this process's stack. */
export function hostileJson(rng: Rng): string {
  switch (rng.int(0, 7)) {
    case 0: {
      const depth = rng.pick([100, 1000, 30000]);
      return '['.repeat(depth) + ']'.repeat(depth);
    }
    case 1: {
      const depth = rng.pick([100, 5000, 20000]);
      return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    }
    case 2: {
      // A reading payload whose value nests deeply: the shape of #18's first defect.
      const depth = rng.pick([64, 3000, 25000]);
      return `{"temperature":${'['.repeat(depth)}1${']'.repeat(depth)}}`;
    }
    case 3: {
      const keys = rng.pick([100, 5000, 20000]);
      return `{${Array.from({ length: keys }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    }
    case 4:
      return JSON.stringify(Object.fromEntries(HOSTILE_NAMES.map((name, i) => [name, i])));
    case 5:
      return `{"${rng.pick(HOSTILE_NAMES).replace(/["\\]/g, '')}":${rng.int(-50, 50)}}`;
    case 6:
      return JSON.stringify(randomValue(rng));
    default:
      return JSON.stringify({ readings: [{ name: rng.pick(HOSTILE_NAMES), value: randomValue(rng) }] });
  }
}

/** Flips, cuts, repeats or inserts bytes. */
export function mutate(rng: Rng, input: Buffer): Buffer {
  const bytes = Buffer.from(input);
  switch (rng.int(0, 4)) {
    case 0:
      for (let i = rng.int(1, 8); i > 0 && bytes.length > 0; i--) bytes[rng.int(0, bytes.length - 1)] = rng.int(0, 255);
      return bytes;
    case 1:
      return bytes.subarray(0, rng.int(0, bytes.length));
    case 2:
      return Buffer.concat([bytes, bytes]);
    case 3: {
      const at = rng.int(0, bytes.length);
      const noise = Buffer.from(Array.from({ length: rng.int(1, 16) }, () => rng.int(0, 255)));
      return Buffer.concat([bytes.subarray(0, at), noise, bytes.subarray(at)]);
    }
    default:
      return Buffer.from(Array.from({ length: rng.int(0, 64) }, () => rng.int(0, 255)));
  }
}

/** A payload for any text entry point: valid-looking, hostile, mutated or plain garbage. */
export function randomPayload(rng: Rng): Buffer {
  const good = JSON.stringify({ temperature: rng.int(-40, 60), humidity: rng.int(0, 100) });
  switch (rng.int(0, 4)) {
    case 0:
      return Buffer.from(good);
    case 1:
      return mutate(rng, Buffer.from(good));
    case 2:
      return mutate(rng, Buffer.from(hostileJson(rng)));
    default:
      return Buffer.from(hostileJson(rng));
  }
}

/** One topic or path segment. */
export function randomSegment(rng: Rng, valid: readonly string[]): string {
  return rng.chance(0.5) ? rng.pick(valid) : randomName(rng);
}

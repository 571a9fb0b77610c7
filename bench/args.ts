/**
 * A bench's command line after its script name (`npm run bench -- delivery
 * --only peers --warmup 5`): `--name value` pairs and bare `--switch`es. One
 * reader for every bench, so a number that is not one is said, not run as NaN.
 */
const args = process.argv.slice(2);

/** The value after `--name`, or undefined when it is not given. */
export function stringFlag(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** `--name N`, a number of zero or more; `fallback` when it is not given. */
export function numberFlag(name: string, fallback: number): number {
  const given = stringFlag(name);
  const value = Number(given ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} expects a number, got ${given}`);
  return value;
}

/** `--name a,b,c`; `fallback` when it is not given. */
export function listFlag(name: string, fallback: string[]): string[] {
  return stringFlag(name)?.split(',') ?? fallback;
}

/** True when the bare switch `--name` is given. */
export function hasFlag(name: string): boolean {
  return args.includes(`--${name}`);
}

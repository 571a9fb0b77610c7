import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * A setting that holds a document (CONNECTORS, SIGNALLING_KEYS,
 * SIGNALLING_ROOMS, SIGNALLING_DEVICE_CHANNELS): inline JSON (it starts with
 * `{` or `[`) or the path of a JSON or YAML file. What is wrong goes to
 * `problems`, named by `variable`, and the answer is then undefined.
 */
export function readConfigSource(variable: string, value: string | undefined, problems: string[]): unknown {
  if (value === undefined) return undefined;
  const inline = /^\s*[[{]/.test(value);
  let text = value;
  if (!inline) {
    const path = resolve(value);
    if (!existsSync(path)) {
      problems.push(`${variable}=${value}: expected inline JSON or the path of a JSON or YAML file; none is there`);
      return undefined;
    }
    text = readFileSync(path, 'utf8');
  }
  try {
    return inline ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    problems.push(`${variable}: ${inline ? 'inline JSON' : value} does not parse: ${why}`);
    return undefined;
  }
}

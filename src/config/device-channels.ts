import { NAME_PATTERN } from '../common/validate';
import { channelProblem, isReservedChannel } from '../signalling/channel-rules';
import type { DeviceChannelKind, DeviceChannelMapping } from './app-config';
import { DEVICE_CHANNEL_KINDS } from './app-config';
import { readConfigSource } from './config-source';

/** Mappings in `SIGNALLING_DEVICE_CHANNELS` at most. */
export const MAX_DEVICE_CHANNEL_MAPPINGS = 100;
const VARIABLE = 'SIGNALLING_DEVICE_CHANNELS';
const PLACEHOLDERS = new Set(['{id}', '{type}']);

/**
 * Reads and checks `SIGNALLING_DEVICE_CHANNELS` (issue #15): an object of
 * channel templates, `{"fleet/{id}/telemetry": {"type": "sensor", "kind": "data"}}`,
 * inline JSON or the path of a JSON/YAML file. Problems go to `problems`
 * (load-config reports them with every other bad variable). A `cmd` mapping
 * brings its `cmd/response` at `{template}/response`, as MQTT's topics do,
 * unless the same type has a `cmd/response` mapping of its own.
 */
export function readDeviceChannels(
  value: string | undefined,
  topicPrefix: string,
  problems: string[],
): DeviceChannelMapping[] {
  if (value === undefined) return [];
  const doc = readConfigSource(VARIABLE, value, problems);
  if (doc === undefined) return [];
  if (!isRecord(doc)) {
    problems.push(
      `${VARIABLE}: expected an object of channel templates, {"fleet/{id}/telemetry": {"type": "sensor", "kind": "data"}}`,
    );
    return [];
  }
  const entries = Object.entries(doc);
  if (entries.length > MAX_DEVICE_CHANNEL_MAPPINGS) {
    problems.push(`${VARIABLE}: at most ${MAX_DEVICE_CHANNEL_MAPPINGS} channel templates, got ${entries.length}`);
    return [];
  }
  const before = problems.length;
  const mappings: DeviceChannelMapping[] = [];
  for (const [template, spec] of entries) {
    const mapping = readMapping(template, spec, topicPrefix, problems);
    if (mapping) mappings.push(mapping);
  }
  const answered = new Set(mappings.filter((m) => m.kind === 'cmd/response').map((m) => m.type));
  for (const cmd of mappings.filter((m) => m.kind === 'cmd')) {
    if (!answered.has(cmd.type)) mappings.push({ ...cmd, template: `${cmd.template}/response`, kind: 'cmd/response' });
  }
  for (let i = 0; i < mappings.length; i++) {
    for (let j = i + 1; j < mappings.length; j++) {
      if (overlaps(mappings[i].template, mappings[j].template))
        problems.push(
          `${VARIABLE}: ${mappings[i].template} and ${mappings[j].template} can name the same channel; make a level differ`,
        );
    }
  }
  return problems.length > before ? [] : mappings;
}

function readMapping(
  template: string,
  spec: unknown,
  topicPrefix: string,
  problems: string[],
): DeviceChannelMapping | undefined {
  const at = `${VARIABLE}: ${template}`;
  const found: string[] = [];
  const problem = channelProblem(template);
  const levels = template.split('/');
  if (problem) found.push(problem);
  else if (isReservedChannel(template)) found.push('uses a reserved prefix (_metered/, _internal/, _system/)');
  else if (/[*\\]/.test(template)) found.push('a template names channels; * and \\ have no place in it');
  else if (levels[0] === topicPrefix)
    found.push(`${topicPrefix}/ is the standard layout's (TOPIC_PREFIX), which needs no mapping`);
  else if (levels.some((l) => l === '')) found.push('has an empty level');
  else {
    const strays = levels.filter((l) => /[{}]/.test(l) && !PLACEHOLDERS.has(l));
    if (strays.length > 0)
      found.push(`${strays.join(', ')}: {id} and {type} stand for whole levels, nothing else does`);
    const count = (p: string): number => levels.filter((l) => l === p).length;
    if (count('{id}') !== 1) found.push('needs {id} once');
    if (count('{type}') > 1) found.push('has {type} more than once');
  }
  if (!isRecord(spec)) {
    problems.push(`${at}: expected {"type": "…", "kind": "data" | "status" | "cmd" | "cmd/response"}`);
    return undefined;
  }
  const hasType = levels.includes('{type}');
  const kind = spec.kind;
  if (!(DEVICE_CHANNEL_KINDS as readonly unknown[]).includes(kind))
    found.push(`kind: expected one of ${DEVICE_CHANNEL_KINDS.join(', ')}`);
  if (hasType && spec.type !== undefined) found.push('type: the template has {type}; give one or the other');
  if (!hasType && (typeof spec.type !== 'string' || !NAME_PATTERN.test(spec.type)))
    found.push('type: expected a device type (1 to 128 characters without /, +, # or whitespace)');
  const unknown = Object.keys(spec).filter((k) => k !== 'type' && k !== 'kind');
  if (unknown.length > 0) found.push(`unknown field(s) ${unknown.join(', ')}`);
  if (found.length > 0) {
    problems.push(...found.map((f) => `${at}: ${f}`));
    return undefined;
  }
  return { template, kind: kind as DeviceChannelKind, ...(hasType ? {} : { type: spec.type as string }) };
}

/** Two templates name a common channel when every level pairs equal literals or a placeholder. */
function overlaps(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  return x.length === y.length && x.every((l, i) => l === y[i] || PLACEHOLDERS.has(l) || PLACEHOLDERS.has(y[i]));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

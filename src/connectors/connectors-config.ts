import { DomainError } from '../common/domain-error';
import type { ConnectorsConfig } from '../config/app-config';
import type { ConnectorDefinition } from './connector-definition';
import { CREATE_CONNECTOR, definitionFrom } from './connector-definition';
import { targetUrlProblem } from './url-safety';
import { readConfigSource } from '../config/config-source';

/** Start-up refuses a bad CONNECTORS with one message naming each problem. */
export class ConnectorsConfigError extends DomainError {
  constructor(readonly problems: string[]) {
    super('invalid_config', `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 500);
  }
}

/**
 * Connectors from configuration (`CONNECTORS`): inline JSON (starting with
 * `[`) or the path of a JSON or YAML file, holding a list of definitions as
 * `POST /admin/connectors` takes them. Each needs its `secret` here: the
 * receiver has to know it, and nobody would see a generated one.
 */
export function loadConnectorDefinitions(config: ConnectorsConfig): ConnectorDefinition[] {
  const text = config.definitions;
  if (text === undefined) return [];
  const problems: string[] = [];
  const doc = readConfigSource('CONNECTORS', text, problems);
  const definitions: ConnectorDefinition[] = [];
  if (doc !== undefined && !Array.isArray(doc))
    problems.push('CONNECTORS: expected a list of connectors, [{"name": …, "url": …, "secret": …}]');
  const seen = new Set<string>();
  for (const [i, entry] of (Array.isArray(doc) ? doc : []).entries()) {
    const parsed = CREATE_CONNECTOR.safeParse(entry);
    const at = `CONNECTORS[${i}]`;
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        problems.push(`${at}.${issue.path.join('.') || 'entry'}: ${issue.message}`);
      continue;
    }
    const body = parsed.data;
    const urlProblem = targetUrlProblem(body.url, config.allowPrivate);
    if (urlProblem) problems.push(`${at}.url: ${urlProblem}`);
    if (body.secret === undefined) problems.push(`${at}.secret: required here (the receiver must know it)`);
    if (seen.has(body.name)) problems.push(`${at}.name: ${body.name} is named twice`);
    seen.add(body.name);
    definitions.push(definitionFrom(body));
  }
  if (problems.length > 0) throw new ConnectorsConfigError(problems);
  return definitions;
}

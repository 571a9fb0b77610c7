import type { Method, OpenApiDocument, Operation, Schema } from '../src/docs/openapi.types';

/**
 * Checks a value against a schema of the service's OpenAPI document, for the
 * tests that compare real answers with what `/docs` promises. Stricter than
 * JSON Schema on purpose: an object schema that lists properties and says
 * nothing of `additionalProperties` admits no others, so a field the service
 * sends but the document does not mention fails the test.
 */
export function schemaProblems(doc: OpenApiDocument, schema: Schema, value: unknown, at = '$'): string[] {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    if (target === undefined) return [`${at}: unknown $ref ${schema.$ref}`];
    return schemaProblems(doc, target, value, at);
  }
  if (schema.oneOf !== undefined) {
    const fits = schema.oneOf.filter((s) => schemaProblems(doc, s, value, at).length === 0).length;
    return fits === 1 ? [] : [`${at}: matches ${fits} of the oneOf schemas, not exactly one`];
  }
  const problems: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => hasType(value, t))) return [`${at}: ${JSON.stringify(value)} is not ${types.join(' | ')}`];
  }
  if (schema.enum !== undefined && !schema.enum.includes(value as never)) {
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${at}: ${value} < ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${at}: ${value} > ${schema.maximum}`);
  }
  if (typeof value === 'string' && schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    problems.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => problems.push(...schemaProblems(doc, schema.items as Schema, item, `${at}[${i}]`)));
  }
  if (isObject(value)) {
    for (const name of schema.required ?? []) {
      if (!(name in value)) problems.push(`${at}: missing required ${name}`);
    }
    for (const [name, item] of Object.entries(value)) {
      const declared = schema.properties?.[name];
      if (declared !== undefined) problems.push(...schemaProblems(doc, declared, item, `${at}.${name}`));
      else if (typeof schema.additionalProperties === 'object') {
        problems.push(...schemaProblems(doc, schema.additionalProperties, item, `${at}.${name}`));
      } else if (
        schema.additionalProperties === false ||
        (schema.additionalProperties === undefined && schema.properties)
      ) {
        problems.push(`${at}: ${name} is not in the document`);
      }
    }
  }
  return problems;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
    case 'integer':
      return Number.isInteger(value);
    default:
      return typeof value === type;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `/api/devices/{type}/{id}` for `/api/devices/ws/ws-1`: the document's path template a request path falls under. */
export function operationFor(
  doc: OpenApiDocument,
  method: string,
  path: string,
): { template: string; operation: Operation } | undefined {
  const m = method.toLowerCase() as Method;
  const pathname = path.split('?')[0];
  // Exact templates first, so `/docs/openapi.json` is not taken for `/dashboard/{file}`-like patterns.
  const templates = Object.keys(doc.paths).sort((a, b) => a.split('{').length - b.split('{').length);
  for (const template of templates) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+').replace(/\/$/, '')}/?$`);
    const operation = doc.paths[template][m];
    if (operation !== undefined && pattern.test(pathname)) return { template, operation };
  }
  return undefined;
}

import 'reflect-metadata';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { openApiDocument } from './openapi.document';
import type { Operation } from './openapi.types';
import { METHODS } from './openapi.types';

interface DeclaredRoute {
  route: string;
  takesBody: boolean;
  where: string;
}

/** Every `*.controller.ts` under src/, whether or not a module registers it. */
function controllerFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return controllerFiles(path);
    return entry.name.endsWith('.controller.ts') ? [path] : [];
  });
}

const asList = (value: unknown): string[] => (Array.isArray(value) ? (value as string[]) : [value as string]);

/** `/iot/stream/:type` and `/iot/stream/{type}/` both become `/iot/stream/{type}`. */
function normalise(path: string): string {
  const joined = `/${path}`.replace(/\/+/g, '/').replace(/:(\w+)/g, '{$1}');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

/** The routes the controllers declare, read from the metadata Nest's decorators leave. */
function declaredRoutes(): DeclaredRoute[] {
  const routes: DeclaredRoute[] = [];
  for (const file of controllerFiles(join(__dirname, '..'))) {
    const exported = jest.requireActual<Record<string, unknown>>(file);
    for (const [name, value] of Object.entries(exported)) {
      if (typeof value !== 'function') continue;
      const prefixes: unknown = Reflect.getMetadata(PATH_METADATA, value);
      if (prefixes === undefined) continue;
      const proto = (value as { prototype: Record<string, unknown> }).prototype;
      for (const key of Object.getOwnPropertyNames(proto)) {
        const handler = proto[key];
        if (key === 'constructor' || typeof handler !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (method === undefined) continue;
        const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, value, key) ?? {}) as Record<string, unknown>;
        const takesBody = Object.keys(args).some((k) => k.split(':')[0] === String(RouteParamtypes.BODY));
        for (const prefix of asList(prefixes)) {
          for (const path of asList(Reflect.getMetadata(PATH_METADATA, handler))) {
            routes.push({
              route: `${RequestMethod[method].toLowerCase()} ${normalise(`${prefix}/${path}`)}`,
              takesBody,
              where: `${name}.${key}`,
            });
          }
        }
      }
    }
  }
  return routes;
}

describe('the OpenAPI document', () => {
  const doc = openApiDocument('0.0.0-test');
  const documented = new Map<string, Operation | undefined>(
    Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((m) => [`${m} ${normalise(path)}`, item[m]] as const),
    ),
  );

  it('documents every route of every controller under src/, and only those', () => {
    const declared = declaredRoutes();
    expect(declared.length).toBeGreaterThan(20);
    expect([...new Set(declared.map((d) => d.route))].sort()).toEqual([...documented.keys()].sort());
  });

  it('gives a request body schema to every route that reads one', () => {
    const missing = declaredRoutes()
      .filter((d) => d.takesBody && documented.get(d.route)?.requestBody === undefined)
      .map((d) => `${d.route} (${d.where})`);
    expect(missing).toEqual([]);
  });

  it('gives every operation a unique id, a summary, a success response and a schema for each answer with a body', () => {
    const problems: string[] = [];
    const ids = new Set<string>();
    for (const [route, op] of documented) {
      if (!op) continue;
      if (ids.has(op.operationId)) problems.push(`${route}: operationId ${op.operationId} twice`);
      ids.add(op.operationId);
      if (!op.summary) problems.push(`${route}: no summary`);
      const statuses = Object.keys(op.responses);
      if (!statuses.some((s) => s.startsWith('2'))) problems.push(`${route}: no 2xx response`);
      for (const status of statuses) {
        const response = op.responses[status];
        const bodiless = status === '204' || route.startsWith('get /dashboard/') || status === '503';
        if (!bodiless && !Object.values(response.content ?? {}).some((c) => c.schema !== undefined)) {
          problems.push(`${route} ${status}: no response schema`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('resolves every $ref to a component schema', () => {
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    const unknown = refs.map((r) => r.split('/').pop() as string).filter((name) => !(name in doc.components.schemas));
    expect(unknown).toEqual([]);
  });
});

import type { Method, OpenApiDocument, Operation, Parameter, PathItem, Response, Schema } from './openapi.types';
import { METHODS } from './openapi.types';

/**
 * The OpenAPI document as one self-contained page: rendered here on the
 * server, no script and no CDN, so it works offline and under a strict CSP.
 */
export function docsPage(doc: OpenApiDocument): string {
  const byTag = new Map<string, { method: Method; path: string; op: Operation; item: PathItem }[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)?.push({ method, path, op, item });
    }
  }
  const tags = doc.tags ?? [...byTag.keys()].map((name) => ({ name, description: undefined }));
  const nav = tags
    .map((t) => `<li><a href="#tag-${esc(t.name)}">${esc(t.name)}</a></li>`)
    .concat('<li><a href="#schemas">schemas</a></li>')
    .join('');
  const sections = tags
    .map((t) => {
      const ops = byTag.get(t.name) ?? [];
      return `<section id="tag-${esc(t.name)}"><h2>${esc(t.name)}</h2>${t.description ? `<p>${inline(t.description)}</p>` : ''}${ops
        .map(({ method, path, op, item }) => operation(method, path, op, item))
        .join('')}</section>`;
    })
    .join('');
  const schemas = Object.entries(doc.components.schemas)
    .map(([name, s]) => `<div class="schema-def" id="schema-${esc(name)}"><h3>${esc(name)}</h3>${schema(s)}</div>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)} API</title><style>${CSS}</style></head>
<body><header><h1>${esc(doc.info.title)} <small>${esc(doc.info.version)} · OpenAPI ${esc(doc.openapi)}</small></h1>
<p>${inline(doc.info.description ?? '')}</p>
<p><a href="/docs/openapi.json">openapi.json</a> · <a href="/">dashboard</a></p><nav><ul>${nav}</ul></nav></header>
<main>${sections}<section id="schemas"><h2>schemas</h2>${schemas}</section></main></body></html>`;
}

function operation(method: Method, path: string, op: Operation, item: PathItem): string {
  const params = [...(item.parameters ?? []), ...(op.parameters ?? [])];
  const security =
    !op.security || op.security.length === 0 ? 'open' : op.security.map((s) => Object.keys(s).join(' + ')).join(' or ');
  const body = op.requestBody
    ? `<h4>Request body</h4>${Object.entries(op.requestBody.content)
        .map(([type, c]) => `<p class="media">${esc(type)}</p>${schema(c.schema)}${example(c.example)}`)
        .join('')}`
    : '';
  return `<details class="op" id="${esc(op.operationId)}" data-method="${method}" data-path="${esc(path)}">
<summary><span class="method ${method}">${method.toUpperCase()}</span> <code class="path">${esc(path)}</code> <span class="summary">${inline(op.summary)}</span></summary>
<div class="body">${op.description ? `<p>${inline(op.description)}</p>` : ''}<p class="security">Credential: ${esc(security)}</p>
${params.length ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>${params.map(parameter).join('')}</table>` : ''}
${body}<h4>Responses</h4>${Object.entries(op.responses)
    .map(([status, r]) => response(status, r))
    .join('')}</div></details>`;
}

function parameter(p: Parameter): string {
  return `<tr><td><code>${esc(p.name)}</code>${p.required ? ' <span class="req">required</span>' : ''}</td><td>${p.in}</td><td>${typeName(p.schema)}</td><td>${inline(p.description ?? '')}</td></tr>`;
}

function response(status: string, r: Response): string {
  const content = Object.entries(r.content ?? {})
    .map(([type, c]) => `<p class="media">${esc(type)}</p>${schema(c.schema)}${example(c.example)}`)
    .join('');
  return `<div class="response"><p><b class="status s${status[0]}">${esc(status)}</b> ${inline(r.description)}</p>${content}</div>`;
}

/** A schema as nested lists: `name: type`, required marks and descriptions. */
function schema(s: Schema, depth = 0): string {
  if (depth > 6) return '';
  const parts: string[] = [`<span class="type">${typeName(s)}</span>`];
  if (s.description) parts.push(` <span class="desc">${inline(s.description)}</span>`);
  let inner = '';
  if (s.properties) {
    inner = `<ul>${Object.entries(s.properties)
      .map(
        ([name, p]) =>
          `<li><code>${esc(name)}</code>${s.required?.includes(name) ? '<span class="req">*</span>' : ''}: ${schema(p, depth + 1)}</li>`,
      )
      .join('')}</ul>`;
  } else if (s.items?.properties) {
    inner = schema(s.items, depth + 1);
  } else if (s.oneOf) {
    inner = `<ul>${s.oneOf.map((o) => `<li>one of: ${schema(o, depth + 1)}</li>`).join('')}</ul>`;
  } else if (typeof s.additionalProperties === 'object' && s.additionalProperties.properties) {
    inner = `<ul><li><i>each value</i>: ${schema(s.additionalProperties, depth + 1)}</li></ul>`;
  }
  return `<span class="schema">${parts.join('')}${inner}</span>`;
}

function typeName(s: Schema): string {
  if (s.$ref) {
    const name = s.$ref.split('/').pop() ?? s.$ref;
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  if (s.oneOf) return 'one of';
  let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'any');
  if (s.type === 'array' && s.items) return `${typeName(s.items)}[]`;
  if (s.enum) t = s.enum.map((v) => JSON.stringify(v)).join(' | ');
  const limits = [
    s.format,
    s.pattern && `pattern ${s.pattern}`,
    s.minimum !== undefined && `≥ ${s.minimum}`,
    s.maximum !== undefined && `≤ ${s.maximum}`,
    s.default !== undefined && `default ${JSON.stringify(s.default)}`,
  ].filter(Boolean);
  return esc(t) + (limits.length ? ` <small>(${esc(limits.join(', '))})</small>` : '');
}

function example(value: unknown): string {
  if (value === undefined) return '';
  return `<pre class="example">${esc(typeof value === 'string' ? value : JSON.stringify(value, null, 2))}</pre>`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Escapes, then turns `code` spans into <code>. */
function inline(text: string): string {
  return esc(text).replace(/`([^`]+)`/g, '<code>$1</code>');
}

const CSS = `
body{margin:0;font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2937;background:#f8fafc}
header{background:#111827;color:#f9fafb;padding:16px 28px}header a{color:#93c5fd}header small{color:#9ca3af;font-weight:normal;font-size:13px}
header nav ul{list-style:none;padding:0;display:flex;gap:16px;margin:8px 0 0}
main{max-width:1100px;margin:0 auto;padding:8px 28px 40px}h2{margin-top:28px;text-transform:capitalize}
code{font-family:ui-monospace,Menlo,monospace;font-size:13px;background:#eef2f7;padding:0 4px;border-radius:3px}
.op{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:8px 0}.op>summary{cursor:pointer;padding:8px 12px}
.op .body{padding:4px 16px 12px;border-top:1px solid #e5e7eb}.path{background:none;font-weight:600}
.method{display:inline-block;min-width:58px;text-align:center;color:#fff;border-radius:4px;font-size:12px;font-weight:700;padding:1px 0}
.get{background:#2563eb}.post{background:#16a34a}.put{background:#ca8a04}.delete{background:#dc2626}.patch{background:#9333ea}
.summary{color:#4b5563}.security{color:#6b7280;font-size:13px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;border-bottom:1px solid #e5e7eb;padding:4px 8px;vertical-align:top}th{font-size:12px;color:#6b7280}
.req{color:#dc2626;font-size:12px}.type{color:#7c3aed;font-family:ui-monospace,Menlo,monospace;font-size:13px}.desc{color:#4b5563}
.schema ul{margin:2px 0 2px 8px;padding-left:14px;border-left:2px solid #e5e7eb;list-style:none}
.media{margin:6px 0 2px;font-size:12px;color:#6b7280}.status{display:inline-block;min-width:36px}
.s2{color:#16a34a}.s4{color:#dc2626}.s5{color:#b45309}pre.example{background:#0f172a;color:#e2e8f0;padding:8px 10px;border-radius:6px;overflow:auto;font-size:12px}
.schema-def{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:4px 14px;margin:8px 0}`;

/**
 * The project's OpenAPI document (control/openapi.yaml) is the one source of truth for request
 * validation: each operation's parameters and JSON request body become a fastify route schema.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export type Role = 'user' | 'admin' | 'agent-or-admin' | 'open';

export interface SpecOperation {
  operationId: string;
  method: string;
  /** OpenAPI path, e.g. /v1/tasks/{taskId}. */
  path: string;
  /** fastify path, e.g. /v1/tasks/:taskId. */
  url: string;
  role: Role;
  schema: { params?: object; querystring?: object; body?: object };
  bodyRequired: boolean;
  /** Dereferenced response schemas by status code (for tests). */
  responses: Record<string, object | undefined>;
}

export interface LoadedSpec {
  text: string;
  doc: Record<string, any>;
  operations: SpecOperation[];
  /** Dereferenced components.schemas[name]. */
  schema(name: string): object;
}

const here = dirname(fileURLToPath(import.meta.url));
/** control/openapi.yaml, also when running from dist/control/http. */
export function specPath(): string {
  const fromSource = join(here, '..', 'openapi.yaml');
  try {
    readFileSync(fromSource);
    return fromSource;
  } catch {
    return join(here, '..', '..', '..', 'control', 'openapi.yaml');
  }
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head'];
/** OpenAPI-only keywords that JSON Schema validators do not know. */
const DROP = new Set(['example', 'examples', 'xml', 'externalDocs', 'discriminator', 'readOnly', 'writeOnly', 'deprecated']);

export function loadSpec(path = specPath()): LoadedSpec {
  const text = readFileSync(path, 'utf8');
  const doc = parse(text) as Record<string, any>;

  const resolveRef = (ref: string): any => {
    if (!ref.startsWith('#/')) throw new Error(`external $ref not supported: ${ref}`);
    let cur: any = doc;
    for (const part of ref.slice(2).split('/')) cur = cur?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (cur === undefined) throw new Error(`unresolved $ref ${ref}`);
    return cur;
  };
  const deref = (node: any, seen: string[] = []): any => {
    if (Array.isArray(node)) return node.map((n) => deref(n, seen));
    if (!node || typeof node !== 'object') return node;
    if (typeof node.$ref === 'string') {
      if (seen.includes(node.$ref)) throw new Error(`recursive $ref ${node.$ref}`);
      return deref(resolveRef(node.$ref), [...seen, node.$ref]);
    }
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(node)) {
      if (DROP.has(k) || k.startsWith('x-')) continue;
      if (k === 'nullable') continue;
      out[k] = k === 'properties' || k === 'patternProperties' ? Object.fromEntries(Object.entries(v as object).map(([pk, pv]) => [pk, deref(pv, seen)])) : deref(v, seen);
    }
    if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
    return out;
  };

  const operations: SpecOperation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params: any[] = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p) => (p.$ref ? resolveRef(p.$ref) : p));
      const schema: SpecOperation['schema'] = {};
      for (const where of ['path', 'query'] as const) {
        const ps = params.filter((p) => p.in === where);
        if (!ps.length) continue;
        const s = {
          type: 'object',
          properties: Object.fromEntries(ps.map((p) => [p.name, { ...deref(p.schema ?? {}) }])),
          required: ps.filter((p) => p.required).map((p) => p.name),
          // Query strings may carry cache-busters etc.; only declared parameters are validated.
          additionalProperties: where === 'query',
        };
        if (where === 'path') schema.params = s;
        else schema.querystring = s;
      }
      const body = op.requestBody?.$ref ? resolveRef(op.requestBody.$ref) : op.requestBody;
      const json = body?.content?.['application/json']?.schema;
      if (json) schema.body = deref(json);
      const open = Array.isArray(op.security) && op.security.length === 0;
      const role: Role = open ? 'open' : ((op['x-fetchml-role'] as Role | undefined) ?? 'user');
      const responses: Record<string, object | undefined> = {};
      for (const [code, r] of Object.entries<any>(op.responses ?? {})) {
        const resp = r.$ref ? resolveRef(r.$ref) : r;
        const s = resp?.content?.['application/json']?.schema;
        responses[code] = s ? deref(s) : undefined;
      }
      operations.push({
        operationId: String(op.operationId),
        method: method.toUpperCase(),
        path,
        url: path.replace(/\{([^}]+)\}/g, ':$1'),
        role,
        schema,
        bodyRequired: body?.required === true,
        responses,
      });
    }
  }
  return { text, doc, operations, schema: (name) => deref({ $ref: `#/components/schemas/${name}` }) };
}

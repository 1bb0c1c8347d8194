/** Registers every operation of the spec with its derived schema, role and handler. */
import { Ajv, type Options } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import type { LoadedSpec, SpecOperation } from './spec.js';
import type { Handlers } from './routes/types.js';

// ajv-formats is CJS; under NodeNext its default import is the module namespace.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

function makeAjv(opts: Options): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: false, useDefaults: true, removeAdditional: false, ...opts });
  addFormats(ajv);
  return ajv;
}

/**
 * Bodies are validated strictly (no type coercion: "5" is not a priority); query and path
 * parameters arrive as strings and are coerced.
 */
export function installValidators(app: FastifyInstance) {
  const bodyAjv = makeAjv({ coerceTypes: false });
  const paramAjv = makeAjv({ coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : paramAjv).compile(schema));
}

/** Operations whose body is raw bytes (streamed by the handler), not JSON. */
const rawBody = (op: SpecOperation) => op.operationId === 'uploadSnapshot';

export async function registerSpecRoutes(app: FastifyInstance, spec: LoadedSpec, handlers: Handlers) {
  const missing = spec.operations.filter((op) => !handlers[op.operationId]).map((op) => op.operationId);
  if (missing.length) throw new Error(`no handler for spec operations: ${missing.join(', ')}`);
  const route = (target: FastifyInstance, op: SpecOperation) =>
    target.route({
      method: op.method as 'GET',
      url: op.url,
      schema: op.schema,
      config: { role: op.role, operationId: op.operationId },
      // An optional body that was not sent validates as {}.
      ...(op.schema.body && !op.bodyRequired
        ? { preValidation: async (req: { body: unknown }) => void (req.body ??= {}) }
        : {}),
      handler: handlers[op.operationId]!,
    });
  for (const op of spec.operations) if (!rawBody(op)) route(app, op);
  await app.register(async (raw) => {
    // The handler reads the request stream itself (no 1 MiB limit; its own cap).
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_req, _payload, done) => done(null));
    for (const op of spec.operations) if (rawBody(op)) route(raw, op);
  });
}

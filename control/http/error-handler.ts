/** One error shape for every 4xx/5xx: {error, code, trace_id}, with the trace id also in X-Trace-Id. */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, FetchmlError, wireCode, type ErrorBody, type ErrorCode } from '../../shared/errors.js';

export function errorBody(req: FastifyRequest, code: ErrorCode, message: string): ErrorBody {
  return { error: message, code: wireCode(code), trace_id: String(req.id) };
}

export function sendError(req: FastifyRequest, reply: FastifyReply, code: ErrorCode, message: string, status?: number) {
  return reply
    .code(status ?? ERROR_CATALOGUE[code].status)
    .type('application/json; charset=utf-8')
    .send(errorBody(req, code, message));
}

const codeForStatus = (status: number): ErrorCode => {
  for (const [code, v] of Object.entries(ERROR_CATALOGUE)) if (v.status === status) return code as ErrorCode;
  return status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST';
};

/** "body/priority must be <= 10" from ajv's errors, naming the field. */
function describeValidation(err: FastifyError): string {
  const first = err.validation?.[0];
  if (!first) return err.message;
  const where = err.validationContext ?? 'request';
  let field = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const params = first.params as Record<string, unknown>;
  if (first.keyword === 'required') field = [field, String(params.missingProperty)].filter(Boolean).join('.');
  if (first.keyword === 'additionalProperties') {
    return `${where}${field ? `.${field}` : ''}: unknown field '${String(params.additionalProperty)}'`;
  }
  return `${where}${field ? `.${field}` : ''} ${first.message ?? 'is invalid'}`;
}

export function installErrorHandling(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof FetchmlError) return sendError(req, reply, err.code, err.message);
    if (err.validation) {
      // Query and path parameters answer 400 (spec: BadRequest); body schema violations 422.
      const bodyError = err.validationContext === 'body';
      return sendError(req, reply, bodyError ? 'VALIDATION_ERROR' : 'BAD_REQUEST', describeValidation(err));
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'BAD_REQUEST' : codeForStatus(status);
      const message = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError ? 'Malformed JSON body' : err.message;
      return sendError(req, reply, code, message, status);
    }
    req.log.error({ err }, 'unhandled error');
    return sendError(req, reply, 'INTERNAL_ERROR', 'An internal error occurred');
  });
  app.setNotFoundHandler((req, reply) => sendError(req, reply, 'NOT_FOUND', `No route ${req.method} ${req.url.split("?")[0]!.slice(0, 200)}`));
}

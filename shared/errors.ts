/**
 * The one error catalogue. Every error that crosses the API has one of the spec's codes
 * (`ErrorResponse.code`), and the code decides the HTTP status and whether a retry can help.
 */
export const ERROR_CATALOGUE = {
  BAD_REQUEST: { status: 400, retryable: false },
  UNAUTHORIZED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  CONFLICT: { status: 409, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  VALIDATION_ERROR: { status: 422, retryable: false },
  RATE_LIMITED: { status: 429, retryable: true },
  INTERNAL_ERROR: { status: 500, retryable: true },
  SERVICE_UNAVAILABLE: { status: 503, retryable: true },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The codes the spec's ErrorResponse enum lists; 413 answers with BAD_REQUEST on the wire. */
export const WIRE_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'INTERNAL_ERROR',
  'SERVICE_UNAVAILABLE',
  'VALIDATION_ERROR',
] as const;
export type WireCode = (typeof WIRE_CODES)[number];

export function wireCode(code: ErrorCode): WireCode {
  return code === 'PAYLOAD_TOO_LARGE' ? 'BAD_REQUEST' : code;
}

export interface ErrorBody {
  error: string;
  code: WireCode;
  trace_id: string;
}

export class FetchmlError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'FetchmlError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.retryable = ERROR_CATALOGUE[code].retryable;
    this.details = details;
  }
}

export const badRequest = (msg: string) => new FetchmlError('BAD_REQUEST', msg);
export const notFound = (what: string) => new FetchmlError('NOT_FOUND', `${what} not found`);
export const conflict = (msg: string) => new FetchmlError('CONFLICT', msg);
export const unauthorized = (msg = 'Invalid or missing API key') => new FetchmlError('UNAUTHORIZED', msg);
export const validationError = (msg: string) => new FetchmlError('VALIDATION_ERROR', msg);

/**
 * Errors of the agent's task preparation and runtimes. `infrastructure` failures (image pull,
 * dataset checksum, download) are retried by control up to max_retries; the entrypoint's own exit is not.
 */
export class TaskFailure extends Error {
  readonly kind: 'entrypoint' | 'infrastructure';
  constructor(kind: 'entrypoint' | 'infrastructure', message: string) {
    super(message);
    this.name = 'TaskFailure';
    this.kind = kind;
  }
}

/**
 * Errors of the API client, kept apart from shared/api-client.ts so the CLI can recognise them
 * without loading undici.
 */

/** A 4xx/5xx answer from control, with the body's `{error, code, trace_id}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly traceId: string | undefined;
  constructor(status: number, code: string, message: string, traceId?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.traceId = traceId;
  }
}

/** Control could not be reached at all (refused, DNS, timeout, TLS). */
export class ControlUnreachableError extends Error {
  readonly url: string;
  override readonly cause: unknown;
  constructor(url: string, cause: unknown) {
    super(`cannot reach control at ${url}: ${describeCause(cause)}`);
    this.name = 'ControlUnreachableError';
    this.url = url;
    this.cause = cause;
  }
}

function describeCause(cause: unknown): string {
  if (cause && typeof cause === 'object') {
    const c = cause as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof c.code === 'string' && c.code.length > 0) {
      const inner = c.cause ? describeCause(c.cause) : '';
      return inner && inner !== c.code ? `${c.code} (${inner})` : c.code;
    }
    if (c.cause) return describeCause(c.cause);
    if (typeof c.message === 'string') return c.message;
  }
  return String(cause);
}

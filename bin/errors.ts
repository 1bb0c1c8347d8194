/** How the CLI ends: exit codes and the one place errors are printed. */
import { ApiError, ControlUnreachableError } from '../shared/api-client-errors.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** Bad flags or arguments found after commander parsed them: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function debugEnabled(): boolean {
  return process.argv.includes('--debug') || process.env.FETCHML_DEBUG === '1';
}

/** Prints `err` for a person (no stack unless --debug) and returns the exit code to use. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  const debug = debugEnabled();
  if (err instanceof UsageError) {
    stderr.write(`error: ${err.message}\n(run with --help for usage)\n`);
    return EXIT_USAGE;
  }
  if (err instanceof ControlUnreachableError) {
    stderr.write(`error: ${err.message}. Check that \`fetchml control\` is running and FETCHML_URL is right.\n`);
  } else if (err instanceof ApiError) {
    const trace = err.traceId ? ` (trace_id ${err.traceId})` : '';
    stderr.write(`error: ${err.message} [${err.status} ${err.code}]${trace}\n`);
  } else if (err instanceof Error) {
    stderr.write(`error: ${err.message}\n`);
  } else {
    stderr.write(`error: ${String(err)}\n`);
  }
  if (debug && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
  return EXIT_ERROR;
}

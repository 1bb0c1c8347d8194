import { pino, type Logger } from 'pino';
import { formatLogLine, wantPrettyLogs } from './log-format.js';

export type { Logger };

/**
 * One structured logger on stderr; `FETCHML_LOG_LEVEL` sets the level. JSON lines, or readable
 * lines on a terminal (shared/log-format.ts, `FETCHML_LOG_FORMAT=json|pretty`).
 */
export function createLogger(name: string, level = process.env.FETCHML_LOG_LEVEL ?? 'info'): Logger {
  const destination = wantPrettyLogs() ? { write: (line: string) => void process.stderr.write(formatLogLine(line)) } : pino.destination(2);
  return pino({ name, level }, destination);
}

export const silentLogger: Logger = pino({ level: 'silent' });

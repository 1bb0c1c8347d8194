import { pino, type Logger } from 'pino';

export type { Logger };

/** One structured logger (JSON lines on stderr); `FETCHML_LOG_LEVEL` sets the level. */
export function createLogger(name: string, level = process.env.FETCHML_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });

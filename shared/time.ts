/** Durations are written `8 * MINUTE`. */
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

/** The clock is a parameter everywhere decisions depend on time. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

export const iso = (ms: number) => new Date(ms).toISOString();

/** Parses `30m`, `90s`, `2h`, `1d` or plain seconds into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: 24 * HOUR }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * factor;
}

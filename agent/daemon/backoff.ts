/**
 * Reconnect back-off: exponential from 1 s, doubled per failed attempt, with "equal jitter"
 * (half fixed, half random) so a fleet of agents does not reconnect in lock-step after control
 * restarts, and clamped to 1–30 s.
 */
import { SECOND } from '../../shared/time.js';

export const BACKOFF_MIN_MS = 1 * SECOND;
export const BACKOFF_MAX_MS = 30 * SECOND;

/** Delay before reconnect attempt `attempt` (0 = first retry); `random` returns [0, 1). */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const exp = Number.isFinite(attempt) ? Math.min(Math.max(0, Math.floor(attempt)), 16) : 16;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** exp);
  const r = Math.min(Math.max(random(), 0), 1);
  const d = base / 2 + (Number.isFinite(r) ? r : 0) * (base / 2);
  return Math.round(Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, d)));
}

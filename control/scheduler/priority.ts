/**
 * Effective priority with aging, and the queue order the planner walks.
 *
 *   effective = base + min(cap, age_minutes × rate),  age_minutes = max(0, now − queued_at) / 1 min
 *
 * Higher runs sooner (10 is the most urgent base priority); equal effective priorities run FIFO
 * by created_seq. Values are rounded to 1e-4 so that what the API shows is exactly what is sorted.
 * A clock that steps backwards gives age 0, never a negative bonus.
 */
import { MINUTE } from '../../shared/time.js';
import { DEFAULT_PLAN_CONFIG, type PlanConfig, type PriorityBreakdown, type SchedTask } from './types.js';

export const DEFAULT_PRIORITY = 5;
/** Priorities are compared at this resolution (1e-4 points: 0.06 s of aging at 0.1/min). */
const SCALE = 1e4;
/** Effective priorities are clamped into ±PRIORITY_LIMIT so they pack into one sort key. */
const PRIORITY_LIMIT = 1000;

const finiteOr = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

/** Merges a partial config over the defaults; nonsense values (negative, NaN) fall back to them. */
export function resolveConfig(partial: Partial<PlanConfig> | undefined): PlanConfig {
  const d = DEFAULT_PLAN_CONFIG;
  const nonNeg = (v: unknown, fb: number) => {
    const n = finiteOr(v, fb);
    return n >= 0 ? n : fb;
  };
  return {
    agingRatePerMinute: nonNeg(partial?.agingRatePerMinute, d.agingRatePerMinute),
    agingCap: nonNeg(partial?.agingCap, d.agingCap),
    detailedReasons: Math.floor(nonNeg(partial?.detailedReasons, d.detailedReasons)),
    maxFitSearches: Math.floor(nonNeg(partial?.maxFitSearches, d.maxFitSearches)),
  };
}

/** The breakdown for one task at `now` (the same arithmetic as the planner's, see agePriorities). */
export function agedPriority(task: Pick<SchedTask, 'priority' | 'queued_at'>, now: number, cfg: PlanConfig = resolveConfig(undefined)): PriorityBreakdown {
  const { base, bonus, eff } = agePriorities([task as SchedTask], now, cfg);
  return { base: base[0]!, age_bonus: bonus[0]!, effective: eff[0]! };
}

/**
 * Queue indices in scheduling order. Sorting 100k objects with a comparator costs ~40 ms here,
 * so this is a stable two-pass radix sort (13 bits each) on the quantised priority alone, fed
 * in FIFO order: stability keeps FIFO within equal priorities. `effective` must already be
 * rounded to 1e-4 and lie within ±PRIORITY_LIMIT.
 */
export function queueOrder(queue: readonly SchedTask[], effective: Float64Array): Uint32Array {
  const n = queue.length;
  // FIFO order: the input order when the queue is already in created_seq order (the adapter's
  // output), else a sort on (created_seq, position).
  for (let i = 1; i < n; i++) {
    if (!(finiteOr(queue[i - 1]?.created_seq, 0) <= finiteOr(queue[i]?.created_seq, 0))) return orderByPriority(n, fifoOrder(queue), effective);
  }
  return orderByPriority(n, undefined, effective);
}

/** FIFO key of a queue entry, as queueOrder compares them (plan.ts checks the input order itself). */
export const fifoSeq = (t: SchedTask | undefined): number => finiteOr(t?.created_seq, 0);

/** queueOrder's radix sort, given the FIFO order (undefined: the input order is FIFO). */
export function orderByPriority(n: number, fifoIn: Uint32Array | undefined, effective: Float64Array): Uint32Array {
  let fifo = fifoIn;
  if (!fifo) {
    fifo = new Uint32Array(n);
    for (let i = 0; i < n; i++) fifo[i] = i;
  }
  // key 0 … 2e7 (< 2^26): 0 is the highest effective priority.
  const key = new Uint32Array(n);
  const top = 2 * PRIORITY_LIMIT * SCALE;
  for (let i = 0; i < n; i++) key[i] = top - (Math.round(effective[i]! * SCALE) + PRIORITY_LIMIT * SCALE);
  let src: Uint32Array = fifo;
  let dst: Uint32Array = new Uint32Array(n);
  const counts = new Uint32Array(8193);
  for (const shift of [0, 13]) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((key[src[i]!]! >>> shift) & 8191) + 1]!++;
    for (let b = 1; b <= 8192; b++) counts[b]! += counts[b - 1]!;
    for (let i = 0; i < n; i++) {
      const qi = src[i]!;
      dst[counts[(key[qi]! >>> shift) & 8191]!++] = qi;
    }
    [src, dst] = [dst, src];
  }
  return src;
}

export function fifoOrder(queue: readonly SchedTask[]): Uint32Array {
  const idx = Array.from(queue.keys());
  idx.sort((a, b) => finiteOr(queue[a]?.created_seq, 0) - finiteOr(queue[b]?.created_seq, 0) || a - b);
  return Uint32Array.from(idx);
}

/** Breakdowns for a whole queue into typed arrays (no per-task objects on the hot path). */
export function agePriorities(queue: readonly SchedTask[], now: number, cfg: PlanConfig): AgedArrays {
  const n = queue.length;
  const out: AgedArrays = { base: new Float64Array(n), bonus: new Float64Array(n), eff: new Float64Array(n) };
  const aging = agingOf(now, cfg);
  for (let i = 0; i < n; i++) ageInto(queue[i], i, out, aging);
  return out;
}

export interface AgedArrays {
  base: Float64Array;
  bonus: Float64Array;
  eff: Float64Array;
}

export interface Aging {
  nowMs: number;
  cap: number;
  perMs: number;
}

export function agingOf(now: number, cfg: PlanConfig): Aging {
  return { nowMs: Number.isFinite(now) ? now : 0, cap: Math.min(cfg.agingCap, PRIORITY_LIMIT / 2), perMs: cfg.agingRatePerMinute / MINUTE };
}

/** One task's breakdown into slot i of the arrays (plan.ts calls it from its own pass over the queue). */
export function ageInto(t: SchedTask | undefined | null, i: number, out: AgedArrays, aging: Aging): void {
  const lim = PRIORITY_LIMIT / 2;
  const nowMs = aging.nowMs;
  let p = t === undefined || t === null ? DEFAULT_PRIORITY : t.priority;
  if (typeof p !== 'number' || !(p === p) || p === Infinity || p === -Infinity) p = DEFAULT_PRIORITY;
  const b = Math.round((p > lim ? lim : p < -lim ? -lim : p) * SCALE) / SCALE;
  const qa = t === undefined || t === null ? nowMs : t.queued_at;
  // NaN/garbage queued_at and clocks that stepped back both mean age 0.
  const age = typeof qa === 'number' ? nowMs - qa : 0;
  const a = age > 0 ? Math.round(Math.min(aging.cap, age * aging.perMs) * SCALE) / SCALE : 0;
  out.base[i] = b;
  out.bonus[i] = a;
  out.eff[i] = Math.round((b + a) * SCALE) / SCALE;
}

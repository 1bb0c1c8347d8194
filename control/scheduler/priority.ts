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

/** Highest effective first, then created_seq, then input position. */
export function compareQueued(a: { eff: number; seq: number; idx: number }, b: { eff: number; seq: number; idx: number }): number {
  return b.eff - a.eff || a.seq - b.seq || a.idx - b.idx;
}

const IDX_BITS = 2 ** 21;

/**
 * Queue indices in scheduling order. Sorting 100k objects with a comparator costs ~40 ms here, so
 * the order is packed into one float per task (priority in the high bits, FIFO rank in the low
 * 21 bits) and sorted natively. `effective` must already be rounded to 1e-4.
 */
export function queueOrder(queue: readonly SchedTask[], effective: Float64Array): Uint32Array {
  const n = queue.length;
  if (n >= IDX_BITS) return slowOrder(queue, effective);
  // FIFO rank: the input position when the queue is already in created_seq order (the adapter's
  // output), else the rank from a sort on (created_seq, position).
  let rank: Uint32Array | undefined;
  for (let i = 1; i < n; i++) {
    if (!(finiteOr(queue[i - 1]?.created_seq, 0) <= finiteOr(queue[i]?.created_seq, 0))) {
      rank = fifoRank(queue);
      break;
    }
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const q = Math.round(effective[i]! * SCALE) + PRIORITY_LIMIT * SCALE; // 0 … 2e7
    keys[i] = (2 * PRIORITY_LIMIT * SCALE - q) * IDX_BITS + (rank ? rank[i]! : i);
  }
  keys.sort();
  const order = new Uint32Array(n);
  if (rank) {
    const byRank = new Uint32Array(n);
    for (let i = 0; i < n; i++) byRank[rank[i]!] = i;
    for (let i = 0; i < n; i++) order[i] = byRank[keys[i]! % IDX_BITS]!;
  } else {
    for (let i = 0; i < n; i++) order[i] = keys[i]! % IDX_BITS;
  }
  return order;
}

function fifoRank(queue: readonly SchedTask[]): Uint32Array {
  const idx = Array.from(queue.keys());
  idx.sort((a, b) => finiteOr(queue[a]?.created_seq, 0) - finiteOr(queue[b]?.created_seq, 0) || a - b);
  const rank = new Uint32Array(queue.length);
  idx.forEach((qi, r) => (rank[qi] = r));
  return rank;
}

function slowOrder(queue: readonly SchedTask[], effective: Float64Array): Uint32Array {
  const idx = Array.from(queue.keys());
  idx.sort((a, b) => compareQueued(
    { eff: effective[a]!, seq: finiteOr(queue[a]?.created_seq, 0), idx: a },
    { eff: effective[b]!, seq: finiteOr(queue[b]?.created_seq, 0), idx: b },
  ));
  return Uint32Array.from(idx);
}

/** Breakdowns for a whole queue into typed arrays (no per-task objects on the hot path). */
export function agePriorities(queue: readonly SchedTask[], now: number, cfg: PlanConfig): { base: Float64Array; bonus: Float64Array; eff: Float64Array } {
  const n = queue.length;
  const base = new Float64Array(n);
  const bonus = new Float64Array(n);
  const eff = new Float64Array(n);
  const nowMs = Number.isFinite(now) ? now : 0;
  const cap = Math.min(cfg.agingCap, PRIORITY_LIMIT / 2);
  const perMs = cfg.agingRatePerMinute / MINUTE;
  const lim = PRIORITY_LIMIT / 2;
  for (let i = 0; i < n; i++) {
    const t = queue[i];
    let p = t === undefined || t === null ? DEFAULT_PRIORITY : t.priority;
    if (typeof p !== 'number' || !(p === p) || p === Infinity || p === -Infinity) p = DEFAULT_PRIORITY;
    const b = Math.round((p > lim ? lim : p < -lim ? -lim : p) * SCALE) / SCALE;
    const qa = t === undefined || t === null ? nowMs : t.queued_at;
    // NaN/garbage queued_at and clocks that stepped back both mean age 0.
    const age = typeof qa === 'number' ? nowMs - qa : 0;
    const a = age > 0 ? Math.round(Math.min(cap, age * perMs) * SCALE) / SCALE : 0;
    base[i] = b;
    bonus[i] = a;
    eff[i] = Math.round((b + a) * SCALE) / SCALE;
  }
  return { base, bonus, eff };
}

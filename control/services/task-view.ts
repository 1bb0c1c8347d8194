/**
 * How a stored task is shown through the API (list, get, streams, /ws). `priority_aged` of a
 * queued task is derived state — priority + min(cap, age × rate) from queued_at and now — so it is
 * computed here with the planner's own function and config instead of read from the store, where
 * the scheduler only refreshes it for the first waiting tasks. Other statuses keep the stored
 * value (the effective priority they started with).
 */
import type { Task } from '../../shared/api-types.js';
import { agedPriority, resolveConfig, toSchedTask, type PlanConfig } from '../scheduler/index.js';

export type AgingConfig = Partial<Pick<PlanConfig, 'agingRatePerMinute' | 'agingCap'>>;

/**
 * The task as the API shows it at `now`: a copy with `priority_aged` (and, when the latest
 * scheduling pass knows it, `pending_reason`) when queued, else the task itself.
 */
export function presentTask(t: Task, now: number, cfg: PlanConfig, livePendingReason?: string): Task {
  if (t.status !== 'queued') return t;
  return { ...t, priority_aged: agedPriority(toSchedTask(t, 0), now, cfg).effective, ...(livePendingReason ? { pending_reason: livePendingReason } : {}) };
}

/**
 * A presenter bound to a clock and an aging config (resolved once; nonsense values fall back to
 * defaults). `pendingReason` reads the latest pass's reason for any waiting task: the scheduler
 * stores reasons only for the first waiting tasks, like priority_aged.
 */
export function taskPresenter(now: () => number, aging: AgingConfig | undefined, pendingReason?: (taskId: string) => string | undefined): (t: Task) => Task {
  const cfg = resolveConfig(aging);
  return (t) => presentTask(t, now(), cfg, t.status === 'queued' ? pendingReason?.(t.id) : undefined);
}

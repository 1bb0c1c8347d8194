/**
 * First-fit dispatch: a pure function from the queue and the workers' free capacity to
 * assignments. The scheduler (control/scheduler/plan.ts) replaces this policy later; the gateway
 * calls nothing else, so swapping it is one import.
 */
import type { GpuInfo, Task } from '../../shared/api-types.js';
import { gpuTypeMatches } from '../../shared/resources.js';

export interface DispatchWorker {
  id: string;
  gpus: GpuInfo[];
  /** GPUs held by tasks control has placed on this worker. */
  gpu_used: number;
  batch_free: number;
  service_free: number;
  cpu_free: number;
  memory_free_gb: number;
}

export interface Assignment {
  task_id: string;
  worker_id: string;
}

export interface DispatchResult {
  assignments: Assignment[];
  /** Tasks that cannot be placed by this policy at all (not merely "no room right now"). */
  pending: Array<{ task_id: string; reason: string }>;
}

export const MULTI_NODE_PENDING = 'multi-node tasks wait for the gang scheduler';

/** Priority first (higher first), then first queued first. */
export function queueOrder(a: Task, b: Task): number {
  if (b.priority !== a.priority) return b.priority - a.priority;
  const qa = a.queued_at ?? a.created_at;
  const qb = b.queued_at ?? b.created_at;
  if (qa !== qb) return qa < qb ? -1 : 1;
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;
}

function freeGpus(w: DispatchWorker, gpuType: string | undefined): number {
  const healthy = w.gpus.filter((g) => g.healthy);
  const matching = healthy.filter((g) => gpuTypeMatches(gpuType, g.name)).length;
  return Math.max(0, Math.min(matching, healthy.length - w.gpu_used));
}

function fits(t: Task, w: DispatchWorker): boolean {
  if ((t.slot_kind === 'service' ? w.service_free : w.batch_free) < 1) return false;
  if ((t.cpu ?? 0) > w.cpu_free) return false;
  if ((t.memory_gb ?? 0) > w.memory_free_gb) return false;
  return freeGpus(w, t.gpu_type) >= Math.max(0, t.gpu ?? 0);
}

export function chooseAssignments(queued: readonly Task[], workers: readonly DispatchWorker[]): DispatchResult {
  const pool = workers.map((w) => ({ ...w }));
  const result: DispatchResult = { assignments: [], pending: [] };
  for (const t of [...queued].filter((t) => t.status === 'queued').sort(queueOrder)) {
    if ((t.node_count ?? 1) > 1) {
      result.pending.push({ task_id: t.id, reason: MULTI_NODE_PENDING });
      continue;
    }
    const w = pool.find((w) => fits(t, w));
    if (!w) continue;
    if (t.slot_kind === 'service') w.service_free--;
    else w.batch_free--;
    w.cpu_free -= t.cpu ?? 0;
    w.memory_free_gb -= t.memory_gb ?? 0;
    w.gpu_used += Math.max(0, t.gpu ?? 0);
    result.assignments.push({ task_id: t.id, worker_id: w.id });
  }
  return result;
}

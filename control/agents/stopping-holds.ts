/**
 * Resources of task copies an agent is still stopping (Slurm's COMPLETING): control ended the task
 * (cancelled through the API, a gang ended as a unit, a drain deadline, a copy left over from a
 * reassignment) and sent the agent `cancel`, but the process keeps its slot and GPUs until it has
 * exited, up to the agent's stop grace period. The planner must not hand them out meanwhile: the
 * agent would refuse the assignment and the refused task would spend a retry.
 *
 * A hold is released by the agent's final status frame for that copy, by a heartbeat or hello
 * that no longer lists it as running, or when the worker's connection goes (its next hello says
 * what it still runs).
 */
import type { Task } from '../../shared/api-types.js';
import type { RunningTaskReport } from '../../shared/protocol.js';
import type { RunningAllocation } from '../scheduler/adapt.js';

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const FINAL = new Set(['completed', 'failed', 'cancelled']);

interface Hold {
  epoch: number;
  allocation: RunningAllocation;
}

export class StoppingHolds {
  /** worker id → task id → hold */
  private readonly byWorker = new Map<string, Map<string, Hold>>();

  /** Holds what one node of `task` takes on `workerId` until that copy (epoch ≤ `epoch`) has stopped. Returns true when it changed. */
  hold(workerId: string, task: Task, epoch: number): boolean {
    let m = this.byWorker.get(workerId);
    const had = m?.get(task.id);
    if (had && had.epoch >= epoch) return false;
    if (!m) this.byWorker.set(workerId, (m = new Map()));
    const allocation: RunningAllocation = { worker_id: workerId, gpu: num(task.gpu), slot_kind: task.slot_kind === 'service' ? 'service' : 'batch' };
    if (task.gpu_type) allocation.gpu_type = task.gpu_type;
    if (task.cpu !== undefined) allocation.cpu = num(task.cpu);
    if (task.memory_gb !== undefined) allocation.memory_gb = num(task.memory_gb);
    m.set(task.id, { epoch, allocation });
    return true;
  }

  /** The agent reported a final state for this copy. */
  release(workerId: string, taskId: string, epoch: number): boolean {
    const m = this.byWorker.get(workerId);
    const h = m?.get(taskId);
    if (!m || !h || epoch < h.epoch) return false;
    m.delete(taskId);
    if (m.size === 0) this.byWorker.delete(workerId);
    return true;
  }

  /** A heartbeat or hello lists what the agent still runs: holds on anything else go. */
  reconcile(workerId: string, running: readonly RunningTaskReport[]): boolean {
    const m = this.byWorker.get(workerId);
    if (!m) return false;
    const live = new Map<string, number>();
    for (const r of Array.isArray(running) ? running : []) {
      if (r && typeof r.task_id === 'string' && !FINAL.has(r.state)) live.set(r.task_id, Math.max(live.get(r.task_id) ?? -Infinity, Number(r.epoch)));
    }
    let changed = false;
    for (const [id, h] of m) {
      const e = live.get(id);
      if (e === undefined || e > h.epoch) {
        m.delete(id);
        changed = true;
      }
    }
    if (m.size === 0) this.byWorker.delete(workerId);
    return changed;
  }

  /** The worker's connection went: what it still runs is learned again from its hello. */
  dropWorker(workerId: string): boolean {
    return this.byWorker.delete(workerId);
  }

  allocations(workerId: string): RunningAllocation[] {
    const m = this.byWorker.get(workerId);
    return m ? [...m.values()].map((h) => h.allocation) : [];
  }

  /** Held slots by kind, for the API's view of a worker. */
  slots(workerId: string): { batch: number; service: number } {
    let batch = 0;
    let service = 0;
    for (const a of this.allocations(workerId)) {
      if (a.slot_kind === 'service') service++;
      else batch++;
    }
    return { batch, service };
  }

  has(workerId: string, taskId: string): boolean {
    return this.byWorker.get(workerId)?.has(taskId) ?? false;
  }
}

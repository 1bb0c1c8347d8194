/**
 * Builds the planner's input from the API's Task / Worker / Reservation objects (pure: control
 * calls these on its snapshot, then `plan`). Unreadable fields become safe values, never throws.
 */
import { ACTIVE_TASK_STATUSES, type Reservation, type SlotKind, type Task, type Worker } from '../../shared/api-types.js';
import { gpuTypeMatches } from '../../shared/resources.js';
import type { PlanConfig, PlanInput, SchedGpu, SchedReservation, SchedTask, SchedWorker } from './types.js';

/** What one running task takes on one worker. */
export interface RunningAllocation {
  worker_id: string;
  gpu: number;
  gpu_type?: string;
  /** When known (the agent reported them), exactly these GPUs are busy. */
  gpu_indices?: number[];
  cpu?: number;
  memory_gb?: number;
  slot_kind: SlotKind;
}

const ms = (iso: string | undefined, fallback: number) => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : fallback;
};
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

export function toSchedTask(task: Task, createdSeq: number): SchedTask {
  const t: SchedTask = {
    id: task.id,
    user_id: task.user_id,
    priority: task.priority,
    queued_at: ms(task.queued_at, ms(task.created_at, 0)),
    created_seq: createdSeq,
    gpu: num(task.gpu),
    node_count: Math.max(1, Math.floor(num(task.node_count))),
    slot_kind: task.slot_kind === 'service' ? 'service' : 'batch',
  };
  if (task.gpu_type) t.gpu_type = task.gpu_type;
  if (task.cpu !== undefined) t.cpu = num(task.cpu);
  if (task.memory_gb !== undefined) t.memory_gb = num(task.memory_gb);
  if (task.reservation_id) t.reservation_id = task.reservation_id;
  return t;
}

/** The queued tasks, in FIFO order (created_at, then input order) with created_seq 0…n-1. */
export function toSchedQueue(tasks: readonly Task[]): SchedTask[] {
  const queued = tasks.map((t, i) => ({ t, i, at: ms(t?.created_at, 0) })).filter((x) => x.t && x.t.status === 'queued');
  queued.sort((a, b) => a.at - b.at || a.i - b.i);
  return queued.map((x, seq) => toSchedTask(x.t, seq));
}

/** One allocation per node of every task that holds resources (preparing, running, collecting). */
export function allocationsFromTasks(tasks: readonly Task[]): RunningAllocation[] {
  const out: RunningAllocation[] = [];
  for (const t of tasks) {
    if (!t || !ACTIVE_TASK_STATUSES.includes(t.status)) continue;
    const workerIds = t.node_assignments?.length ? t.node_assignments.map((a) => a.worker_id) : t.worker_id ? [t.worker_id] : [];
    for (const worker_id of workerIds) {
      const a: RunningAllocation = { worker_id, gpu: num(t.gpu), slot_kind: t.slot_kind === 'service' ? 'service' : 'batch' };
      if (t.gpu_type) a.gpu_type = t.gpu_type;
      if (t.cpu !== undefined) a.cpu = num(t.cpu);
      if (t.memory_gb !== undefined) a.memory_gb = num(t.memory_gb);
      out.push(a);
    }
  }
  return out;
}

/**
 * A worker's free capacity: its totals minus what the running allocations on it take. Slots take
 * the smaller of the agent's last report and totals minus allocations (an assignment the agent
 * has not yet reported still counts). GPUs by index when known, else by count (matching type first).
 */
export function toSchedWorker(worker: Worker, allocations: readonly RunningAllocation[]): SchedWorker {
  const caps = worker.capabilities ?? ({} as Worker['capabilities']);
  const probed = Array.isArray(caps.gpus) ? caps.gpus : [];
  const gpus: SchedGpu[] = probed.length
    ? probed.map((g) => ({ index: g.index, name: g.name ?? '', healthy: g.healthy === true, free: true }))
    : Array.from({ length: Math.floor(num(caps.gpu_count)) }, (_, index) => ({ index, name: caps.gpu_type ?? '', healthy: true, free: true }));
  let cpu = num(caps.cpu_cores);
  let mem = num(caps.memory_gb);
  const used = { batch: 0, service: 0 };
  for (const a of allocations) {
    if (a.worker_id !== worker.id) continue;
    used[a.slot_kind === 'service' ? 'service' : 'batch']++;
    cpu -= num(a.cpu);
    mem -= num(a.memory_gb);
    if (a.gpu_indices?.length) {
      for (const idx of a.gpu_indices) {
        const g = gpus.find((x) => x.index === idx);
        if (g) g.free = false;
      }
      continue;
    }
    let left = Math.ceil(num(a.gpu));
    // Busy GPUs by count: the matching healthy ones first, then any.
    for (const pass of [true, false]) {
      for (const g of gpus) {
        if (left === 0) break;
        if (g.free && (!pass || (g.healthy && gpuTypeMatches(a.gpu_type, g.name)))) {
          g.free = false;
          left--;
        }
      }
    }
  }
  const slots = worker.slots ?? { batch_available: 0, batch_total: 0, service_available: 0, service_total: 0 };
  const batchTotal = Math.floor(num(slots.batch_total));
  const serviceTotal = Math.floor(num(slots.service_total));
  return {
    id: worker.id,
    status: worker.status,
    gpus,
    cpu_total: num(caps.cpu_cores),
    cpu_free: Math.max(0, cpu),
    memory_total_gb: num(caps.memory_gb),
    memory_free_gb: Math.max(0, mem),
    batch_total: batchTotal,
    batch_free: Math.max(0, Math.min(Math.floor(num(slots.batch_available)), batchTotal - used.batch)),
    service_total: serviceTotal,
    service_free: Math.max(0, Math.min(Math.floor(num(slots.service_available)), serviceTotal - used.service)),
  };
}

export function toSchedReservation(r: Reservation): SchedReservation {
  const s: SchedReservation = {
    id: r.id,
    user_id: r.user_id,
    gpu_count: Math.floor(num(r.gpu_count)),
    node_count: Math.max(1, Math.floor(num(r.node_count))),
    expires_at: ms(r.expires_at, NaN),
    status: r.status,
  };
  if (r.gpu_type) s.gpu_type = r.gpu_type;
  return s;
}

/** Everything `plan` needs from control's snapshot. `tasks` may hold every task; only queued ones are planned. */
export function buildPlanInput(snapshot: {
  tasks: readonly Task[];
  workers: readonly Worker[];
  reservations?: readonly Reservation[];
  now: number;
  config?: Partial<PlanConfig>;
}): PlanInput {
  const allocations = allocationsFromTasks(snapshot.tasks);
  const input: PlanInput = {
    now: snapshot.now,
    queue: toSchedQueue(snapshot.tasks),
    workers: snapshot.workers.map((w) => toSchedWorker(w, allocations)),
    reservations: (snapshot.reservations ?? []).map(toSchedReservation),
  };
  if (snapshot.config) input.config = snapshot.config;
  return input;
}

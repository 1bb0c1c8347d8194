/**
 * The scheduler's own view of the world: minimal, plain data, built from the API types by
 * ./adapt.ts. The planner (./plan.ts) reads these and returns decisions; it never does I/O.
 * Semantics are written down in docs/scheduling.md.
 */
import type { SlotKind, WorkerStatus } from '../../shared/api-types.js';

/** A queued task as the planner needs it. Resource requests are per node. */
export interface SchedTask {
  id: string;
  user_id: string;
  /** Base priority, 1…10; 10 is the most urgent. */
  priority: number;
  /** When the task last entered `queued` (ms since epoch); aging counts from here. */
  queued_at: number;
  /** FIFO tie-break among equal effective priorities: lower runs first. */
  created_seq: number;
  gpu: number;
  gpu_type?: string;
  cpu?: number;
  memory_gb?: number;
  node_count: number;
  slot_kind: SlotKind;
  reservation_id?: string;
}

export interface SchedGpu {
  index: number;
  /** The probed name, e.g. "NVIDIA H100 80GB HBM3"; matched with shared/resources.ts gpuTypeMatches. */
  name: string;
  healthy: boolean;
  /** False while a running task holds it. */
  free: boolean;
}

/** A worker with what it has in total and what is free now (running tasks already subtracted). */
export interface SchedWorker {
  id: string;
  status: WorkerStatus;
  gpus: SchedGpu[];
  cpu_total: number;
  cpu_free: number;
  memory_total_gb: number;
  memory_free_gb: number;
  batch_total: number;
  batch_free: number;
  service_total: number;
  service_free: number;
}

export interface SchedReservation {
  id: string;
  user_id: string;
  /** GPUs held on each of the node_count workers. */
  gpu_count: number;
  gpu_type?: string;
  node_count: number;
  expires_at: number;
  status: 'active' | 'claimed' | 'expired' | 'cancelled';
}

export interface PlanConfig {
  /** Priority points gained per minute in the queue. */
  agingRatePerMinute: number;
  /** The most aging can add. */
  agingCap: number;
  /** Waiting tasks (in queue order) that get a detailed pending reason; the rest get "queued: N tasks ahead". */
  detailedReasons: number;
  /**
   * Backfill depth: how many fit searches that the per-pass shape cache cannot answer one pass may
   * make. Tasks past it wait this pass with a "not examined" reason (Slurm's bf_max_job_test).
   */
  maxFitSearches: number;
}

export const DEFAULT_PLAN_CONFIG: Readonly<PlanConfig> = Object.freeze({
  agingRatePerMinute: 0.1,
  agingCap: 5,
  detailedReasons: 1000,
  maxFitSearches: 20_000,
});

export interface PlanInput {
  now: number;
  queue: readonly SchedTask[];
  workers: readonly SchedWorker[];
  reservations?: readonly SchedReservation[];
  config?: Partial<PlanConfig>;
}

/** How a task's effective priority was reached: effective = base + age_bonus (both rounded to 1e-4). */
export interface PriorityBreakdown {
  base: number;
  age_bonus: number;
  effective: number;
}

export interface NodePlacement {
  /** 0…N-1; rank 0 is the rendezvous node (MASTER_ADDR). */
  rank: number;
  worker_id: string;
  /** GPUs to give the task on this worker (the agent picks which healthy free ones). */
  gpus: number;
}

export interface TaskStart {
  task_id: string;
  nodes: NodePlacement[];
  /** Set when the task starts on (and so claims) its reservation. */
  reservation_id?: string;
  priority_aged: PriorityBreakdown;
}

export interface PendingInfo {
  reason: string;
  priority_aged: PriorityBreakdown;
  /** 0-based place among the waiting tasks, in scheduling order. */
  position: number;
}

/**
 * Pending tasks by id. A Map-like view built lazily, so a pass over 100k tasks does not allocate
 * 100k objects unless the caller reads them all.
 */
export interface PendingTable extends Iterable<[string, PendingInfo]> {
  readonly size: number;
  get(taskId: string): PendingInfo | undefined;
  has(taskId: string): boolean;
  /** Task ids in scheduling order. */
  ids(): string[];
}

export interface ReservationDecision {
  id: string;
  status: 'claimed' | 'expired';
  /** The claiming task. */
  task_id?: string;
}

/** Free capacity the pass kept back: for the blocked head task (backfill shadow) or for a reservation. */
export interface CapacityHold {
  worker_id: string;
  for_task?: string;
  for_reservation?: string;
  gpus: number;
  cpu: number;
  memory_gb: number;
  /** The slot kept for the head task on this worker, if one was free. */
  slot?: SlotKind;
}

export interface PlanResult {
  starts: TaskStart[];
  pending: PendingTable;
  reservations: ReservationDecision[];
  holds: CapacityHold[];
  /** The highest-priority waiting task that could run on this cluster; backfill protects it. */
  head?: { task_id: string; priority: number };
}

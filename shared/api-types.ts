/**
 * Types of the public HTTP API (the project's corrected copy of seed v2, served at GET /openapi.yaml).
 * Control, the CLI and the tests share them; the agent never sees most of them.
 */

/**
 * Task life, drawn once:
 *
 *   queued ──▶ preparing ──▶ running ──▶ collecting ──▶ completed
 *     ▲  │          │            │             └──────▶ failed
 *     │  └──────────┴────────────┴──▶ cancelled (DELETE /v1/tasks/{id})
 *     └── worker lost / infrastructure failure (or the entrypoint's non-zero exit when the
 *         task set max_retries itself: retry_on_exit), while retry_count < max_retries
 *
 * preparing: the agent fetches the snapshot and datasets and verifies them.
 * collecting: the entrypoint has exited; logs are shipped and sealed.
 */
export const TASK_STATUSES = ['queued', 'preparing', 'running', 'collecting', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const ACTIVE_TASK_STATUSES: readonly TaskStatus[] = ['preparing', 'running', 'collecting'];
export function isFinalStatus(s: TaskStatus): boolean {
  return s === 'completed' || s === 'failed' || s === 'cancelled';
}

/** Why a task failed: the entrypoint's own exit, or the infrastructure around it (retryable). */
export type FailureKind = 'entrypoint' | 'infrastructure' | 'worker_lost' | 'cancelled';

export interface DatasetSpec {
  name: string;
  source: string;
  sha256?: string;
  mount_path?: string;
}

export type PluginMode = 'sidecar' | 'remote' | 'disabled';
export interface PluginConfig {
  enabled?: boolean;
  mode?: PluginMode;
  image?: string;
  settings?: Record<string, unknown>;
}
export interface PluginStatus {
  name?: string;
  status?: 'healthy' | 'unhealthy' | 'starting' | 'stopped';
  url?: string;
  last_check?: string;
  /** Why it is unhealthy (tool not installed, no answer …). */
  message?: string;
}

export interface NodeAssignment {
  /** The node's rank, 0…N-1 (the seed's `node_id`). */
  node_id: number;
  worker_id: string;
  slot_assigned: boolean;
}

export interface CreateTaskRequest {
  job_name: string;
  priority?: number;
  args?: string;
  entrypoint?: string;
  snapshot_id?: string;
  datasets?: string[];
  dataset_specs?: DatasetSpec[];
  cpu?: number;
  memory_gb?: number;
  gpu?: number;
  metadata?: Record<string, string>;
  image?: string;
  gpu_type?: string;
  node_count?: number;
  reservation_id?: string;
  plugin_configs?: Record<string, PluginConfig>;
  max_retries?: number;
  /** Batch (default) or service slot. */
  slot_kind?: SlotKind;
  experiment_id?: string;
}

export type SlotKind = 'batch' | 'service';

export interface Task {
  id: string;
  job_name: string;
  status: TaskStatus;
  priority: number;
  created_at: string;
  started_at?: string;
  ended_at?: string;
  worker_id?: string;
  error?: string;
  /** The tail (last ~64 KiB) of the task's combined stdout/stderr. */
  output?: string;
  entrypoint?: string;
  args?: string;
  snapshot_id?: string;
  datasets?: string[];
  dataset_specs?: DatasetSpec[];
  cpu?: number;
  memory_gb?: number;
  gpu?: number;
  gpu_type?: string;
  image?: string;
  metadata?: Record<string, string>;
  user_id: string;
  retry_count: number;
  max_retries: number;
  /**
   * Server-owned: true when the create request set `max_retries` itself ("asked for retries"). Then
   * the entrypoint's own non-zero exit is retried too; otherwise only infrastructure failures and
   * lost workers are. Absent on tasks stored before it existed (= false).
   */
  retry_on_exit?: boolean;
  node_count: number;
  reservation_id?: string;
  plugin_configs?: Record<string, PluginConfig>;
  plugin_status?: Record<string, PluginStatus>;
  node_assignments?: NodeAssignment[];
  priority_aged?: number;
  slot_kind: SlotKind;
  experiment_id?: string;
  exit_code?: number;
  failure_kind?: FailureKind;
  pending_reason?: string;
  /** Bumped on every assignment; fences stale copies of a task on agents. */
  epoch: number;
  /** When the task last entered `queued` (aging counts from here). */
  queued_at: string;
  updated_at: string;
}

export interface TaskList {
  tasks: Task[];
  total: number;
  limit: number;
  offset: number;
}

export interface QueueStats {
  queued: number;
  running: number;
  completed: number;
  failed: number;
  workers: number;
}

export interface Experiment {
  id: string;
  name: string;
  description?: string;
  commit_id?: string;
  created_at: string;
  status: 'active' | 'archived' | 'deleted';
  user_id?: string;
}

export interface JupyterService {
  id: string;
  name: string;
  status: 'starting' | 'running' | 'stopping' | 'stopped' | 'error';
  url?: string;
  token?: string;
  created_at: string;
  user_id?: string;
  workspace?: string;
  image?: string;
  task_id?: string;
  /** The worker running it (once placed). */
  worker_id?: string;
  /** Why it is in status error. */
  error?: string;
}

export type WorkerStatus = 'active' | 'draining' | 'offline';

export interface GpuInfo {
  index: number;
  uuid: string;
  name: string;
  memory_total_mb: number;
  memory_used_mb?: number;
  utilization_pct?: number;
  temperature_c?: number;
  ecc_uncorrectable?: number;
  healthy: boolean;
  unhealthy_reason?: string;
}

export interface Worker {
  id: string;
  name?: string;
  connected_at?: string;
  last_heartbeat?: string;
  capabilities: {
    gpu_count: number;
    gpu_type?: string;
    cpu_cores: number;
    memory_gb: number;
    gpus?: GpuInfo[];
    /** Size and free space (GB) of the filesystem holding the agent's data dir. */
    disk_total_gb?: number;
    disk_free_gb?: number;
  };
  slots: {
    batch_available: number;
    batch_total: number;
    service_available: number;
    service_total: number;
  };
  active_tasks: string[];
  status: WorkerStatus;
  status_reason?: string;
  drain_deadline?: string;
  address?: string;
}

export interface Reservation {
  id: string;
  user_id: string;
  gpu_count: number;
  gpu_type?: string;
  node_count: number;
  expires_at: string;
  status: 'active' | 'claimed' | 'expired' | 'cancelled';
  created_at?: string;
  task_id?: string;
}

export const AUDIT_EVENT_TYPES = [
  'job_queued',
  'job_started',
  'job_completed',
  'file_access',
  'auth_attempt',
  'plugin_configured',
  'scheduler_drain',
  'audit_verified',
  // additions (QUIRKS: one shared enum, extended additively)
  'job_failed',
  'job_cancelled',
  'job_requeued',
  'job_priority_changed',
  'key_created',
  'key_revoked',
  'worker_connected',
  'worker_disconnected',
  'scheduler_undrain',
  'reservation_created',
  'reservation_claimed',
  'reservation_expired',
  'experiment_created',
  'jupyter_started',
  'jupyter_stopped',
  'tasks_archived',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  timestamp: string;
  event_type: AuditEventType;
  user_id?: string;
  resource?: string;
  action?: string;
  success: boolean;
  ip_address?: string;
  error?: string;
  prev_hash: string;
  event_hash: string;
  sequence_num: number;
  metadata?: Record<string, unknown>;
}

/** An audit event before the chain gives it its place and hashes. */
export type AuditEventDraft = Omit<AuditEvent, 'prev_hash' | 'event_hash' | 'sequence_num' | 'timestamp'> & {
  timestamp?: string;
};

export interface VerificationResult {
  valid: boolean;
  total_events: number;
  first_tampered?: number;
  chain_root_hash: string;
  verified_at: string;
  checkpoint_valid?: boolean;
  reason?: string;
}

export type Role = 'admin' | 'user';

export interface ApiKeyView {
  id: string;
  user_id: string;
  role: Role;
  created_at: string;
  /** Only in the 201 answer to POST /v1/keys. */
  key?: string;
}

export interface HealthResponse {
  status: 'healthy' | 'degraded' | 'unhealthy';
  version: string;
  timestamp: string;
}

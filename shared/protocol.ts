/**
 * The agent ⇄ control wire protocol: JSON text frames over one WebSocket that the agent opens to
 * `GET /v1/agents/connect` on control, presenting `Authorization: Bearer <FETCHML_AGENT_TOKEN>`.
 * Every frame has a `type`. The agent sends `hello` first; control answers `welcome` (or `error`
 * and closes). Bump PROTOCOL_VERSION on any incompatible change.
 */
import type { DatasetSpec, FailureKind, GpuInfo, PluginConfig, PluginStatus, SlotKind } from './api-types.js';

export const PROTOCOL_VERSION = 1;
export const AGENT_CONNECT_PATH = '/v1/agents/connect';
/** Frames larger than this are refused by both ends. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Log chunks are cut at this size by the agent. */
export const LOG_CHUNK_BYTES = 64 * 1024;

/** States a task can be in on an agent. */
export type AgentTaskState = 'preparing' | 'running' | 'collecting' | 'completed' | 'failed' | 'cancelled';

export interface RunningTaskReport {
  task_id: string;
  epoch: number;
  state: AgentTaskState;
  gpu_uuids: string[];
}

export interface AgentCapabilities {
  gpus: GpuInfo[];
  cpu_cores: number;
  memory_gb: number;
  hostname: string;
  os?: string;
  runtime: 'process' | 'docker' | 'podman';
  /** 'degraded' when nvidia-smi failed or hung and the last good reading is reported. */
  probe_status: 'ok' | 'degraded' | 'no_gpu';
  probe_message?: string;
  /** The filesystem of the agent's data dir (workspaces, dataset cache). Additive to protocol 1. */
  disk?: { mount: string; total_gb: number; free_gb: number };
}

export interface HelloMessage {
  type: 'hello';
  protocol: number;
  /** Stable across restarts (kept in the agent's data dir). */
  worker_id: string;
  name: string;
  /** Address other nodes of a gang reach this host at (MASTER_ADDR when rank 0). */
  address: string;
  capabilities: AgentCapabilities;
  slots: { batch_total: number; service_total: number };
  running: RunningTaskReport[];
  agent_version: string;
}

export interface HeartbeatMessage {
  type: 'heartbeat';
  seq: number;
  slots_used: { batch: number; service: number };
  gpus: GpuInfo[];
  probe_status: AgentCapabilities['probe_status'];
  running: RunningTaskReport[];
  /** Free space on the data dir's filesystem, GB (refreshed with the GPU reading). Additive. */
  disk_free_gb?: number;
}

export interface TaskStatusMessage {
  type: 'task_status';
  task_id: string;
  epoch: number;
  state: AgentTaskState;
  at: string;
  exit_code?: number;
  error?: string;
  failure_kind?: FailureKind;
  gpu_uuids?: string[];
  /**
   * When the entrypoint started (set on every state after it did). Additive to protocol 1: the
   * agent holds passing states briefly, so a short task's final frame may be the first that says
   * it ran; control then records its start and audits job_started from this.
   */
  started_at?: string;
  /**
   * With `failed`: the agent refused the assignment (it did not fit there when it arrived), the
   * task never ran. Additive to protocol 1: control requeues it without spending a retry.
   */
  refused?: boolean;
}

export interface LogChunkMessage {
  type: 'log_chunk';
  task_id: string;
  epoch: number;
  /** Byte offset of this chunk in the task's log; lets control drop duplicates after a reconnect. */
  offset: number;
  data: string;
}

/** The port a service task must listen on (chosen free by the agent; see TaskReportMessage). */
export const SERVICE_PORT_ENV = 'FETCHML_SERVICE_PORT';

/**
 * agent → control, additive to protocol 1: what a running task offers besides its state. Sent when
 * it changes and again with each sidecar health check (latest wins, not buffered across
 * reconnects). A control that does not know the type ignores it.
 */
export interface TaskReportMessage {
  type: 'task_report';
  task_id: string;
  epoch: number;
  /** A service task's port on the agent's address: ready once it answered HTTP; error when it never did. */
  service?: { port: number; state: 'ready' | 'error' | 'stopped'; error?: string };
  /** Per plugin: sidecar (or remote) health as the agent sees it. */
  plugin_status?: Record<string, PluginStatus>;
}

export type AgentMessage = HelloMessage | HeartbeatMessage | TaskStatusMessage | LogChunkMessage | TaskReportMessage;

/** What an agent needs to run one node of a task. */
export interface TaskAssignment {
  task_id: string;
  epoch: number;
  job_name: string;
  user_id: string;
  entrypoint: string;
  args?: string;
  image?: string;
  slot_kind: SlotKind;
  gpu: number;
  gpu_type?: string;
  cpu?: number;
  memory_gb?: number;
  snapshot_id?: string;
  datasets?: string[];
  dataset_specs?: DatasetSpec[];
  plugin_configs?: Record<string, PluginConfig>;
  /** Environment control adds (rank variables, plugin settings). */
  env: Record<string, string>;
  node_rank: number;
  node_count: number;
}

export interface WelcomeMessage {
  type: 'welcome';
  protocol: number;
  worker_id: string;
  heartbeat_interval_ms: number;
  draining: boolean;
}

export interface AssignMessage {
  type: 'assign';
  task: TaskAssignment;
}

export interface CancelMessage {
  type: 'cancel';
  task_id: string;
  /** Cancel copies with an epoch ≤ this one (a stale copy after reassignment). */
  epoch: number;
  reason: string;
  grace_ms?: number;
}

export interface DrainMessage {
  type: 'drain';
  draining: boolean;
}

export interface ProtocolErrorMessage {
  type: 'error';
  code: 'UNAUTHORIZED' | 'PROTOCOL_MISMATCH' | 'BAD_MESSAGE' | 'DUPLICATE_WORKER';
  message: string;
}

/**
 * Control confirms what it has durably applied, so the agent can forget buffered status frames
 * (up to and including `state`) and resend logs only from `log_offset` after a reconnect.
 * Additive to protocol 1: an agent that ignores it just resends more than needed.
 */
export interface TaskAckMessage {
  type: 'task_ack';
  task_id: string;
  epoch: number;
  state?: AgentTaskState;
  log_offset?: number;
}

export type ControlMessage =
  | WelcomeMessage
  | AssignMessage
  | CancelMessage
  | DrainMessage
  | ProtocolErrorMessage
  | TaskAckMessage;

/** Parses a frame; returns undefined for anything that is not a JSON object with a string `type`. */
export function parseFrame<T extends { type: string }>(raw: string): T | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    if (v && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string') return v as T;
  } catch {
    /* fall through */
  }
  return undefined;
}

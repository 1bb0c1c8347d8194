/**
 * The assign frame for one node of a task, with the rendezvous environment every node gets:
 *   NODE_RANK, NNODES, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and FETCHML_* equivalents.
 * WORLD_SIZE = NNODES × GPUs per node (one process per GPU, torchrun's convention), or NNODES for
 * CPU-only tasks. MASTER_ADDR is rank 0's advertised address (from its hello). MASTER_PORT is
 * chosen deterministically from the task id and epoch within a configurable range; rank 0's agent
 * checks it is free before starting and fails the node as an infrastructure failure if not, so the
 * gang is requeued and the next epoch draws another port.
 */
import { createHash } from 'node:crypto';
import type { Task } from '../../shared/api-types.js';
import type { TaskAssignment } from '../../shared/protocol.js';

export interface PortRange {
  min: number;
  max: number;
}

export const DEFAULT_MASTER_PORTS: PortRange = { min: 29500, max: 29999 };

/** FETCHML_MASTER_PORT_RANGE="min-max"; anything unreadable gives the default. */
export function portRangeFromEnv(env: NodeJS.ProcessEnv = process.env): PortRange {
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(env.FETCHML_MASTER_PORT_RANGE ?? '');
  if (!m) return DEFAULT_MASTER_PORTS;
  const min = Number(m[1]);
  const max = Number(m[2]);
  return min >= 1024 && max <= 65535 && min <= max ? { min, max } : DEFAULT_MASTER_PORTS;
}

export function masterPort(taskId: string, epoch: number, range: PortRange = DEFAULT_MASTER_PORTS): number {
  const h = createHash('sha256').update(`${taskId}:${epoch}`).digest().readUInt32BE(0);
  return range.min + (h % (range.max - range.min + 1));
}

export interface Rendezvous {
  rank: number;
  nodes: number;
  masterAddr: string;
  masterPort: number;
}

export function rendezvousEnv(t: Task, r: Rendezvous): Record<string, string> {
  const gpus = typeof t.gpu === 'number' && t.gpu > 0 ? Math.floor(t.gpu) : 0;
  const world = String(gpus > 0 ? r.nodes * gpus : r.nodes);
  const v = { NODE_RANK: String(r.rank), NNODES: String(r.nodes), WORLD_SIZE: world, MASTER_ADDR: r.masterAddr, MASTER_PORT: String(r.masterPort) };
  return {
    ...v,
    FETCHML_NODE_RANK: v.NODE_RANK,
    FETCHML_NNODES: v.NNODES,
    FETCHML_NODE_COUNT: v.NNODES,
    FETCHML_WORLD_SIZE: world,
    FETCHML_MASTER_ADDR: v.MASTER_ADDR,
    FETCHML_MASTER_PORT: v.MASTER_PORT,
  };
}

/** What the agent needs to run node `r.rank` of a task. */
export function assignmentOf(t: Task, r: Rendezvous = { rank: 0, nodes: 1, masterAddr: '127.0.0.1', masterPort: masterPort(t.id, t.epoch) }): TaskAssignment {
  return {
    task_id: t.id,
    epoch: t.epoch,
    job_name: t.job_name,
    user_id: t.user_id,
    entrypoint: t.entrypoint ?? '',
    ...(t.args !== undefined ? { args: t.args } : {}),
    ...(t.image !== undefined ? { image: t.image } : {}),
    slot_kind: t.slot_kind,
    gpu: t.gpu ?? 0,
    ...(t.gpu_type !== undefined ? { gpu_type: t.gpu_type } : {}),
    ...(t.cpu !== undefined ? { cpu: t.cpu } : {}),
    ...(t.memory_gb !== undefined ? { memory_gb: t.memory_gb } : {}),
    ...(t.snapshot_id !== undefined ? { snapshot_id: t.snapshot_id } : {}),
    ...(t.datasets !== undefined ? { datasets: t.datasets } : {}),
    ...(t.dataset_specs !== undefined ? { dataset_specs: t.dataset_specs } : {}),
    ...(t.plugin_configs !== undefined ? { plugin_configs: t.plugin_configs } : {}),
    env: rendezvousEnv(t, r),
    node_rank: r.rank,
    node_count: r.nodes,
  };
}

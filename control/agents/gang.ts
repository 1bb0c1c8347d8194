/**
 * Multi-node tasks (gangs): one Task, N nodes on N distinct workers, each node reporting its own
 * state. Pure decisions over the per-node states, applied by the gateway:
 *  - the task is `running` when every node runs, `collecting` when every node has exited,
 *    `completed` when every node exited 0;
 *  - any node failing (or cancelling on its own) ends the gang as a unit: the other nodes are
 *    sent cancel, and the task is requeued (infrastructure failure with retries left, or an
 *    entrypoint failure of a task that set max_retries: see retryable) or failed.
 * The gang is never half-running: there is no state where some nodes run a task control has ended.
 */
import type { FailureKind, Task } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import type { AgentTaskState, TaskStatusMessage } from '../../shared/protocol.js';
import { iso } from '../../shared/time.js';
import { requeuePatch, retryable, startedPatch, type CancelOrder } from './reconcile.js';

const RANK: Record<string, number> = { queued: 0, preparing: 1, running: 2, collecting: 3, completed: 4, failed: 4, cancelled: 4 };
const FINAL: readonly AgentTaskState[] = ['completed', 'failed', 'cancelled'];

export interface NodeStop {
  rank: number;
  worker_id: string;
}

export type GangDecision =
  | { kind: 'ignore'; reason: string; cancel?: CancelOrder }
  /** The node's state is recorded; the task as a whole does not change yet. */
  | { kind: 'record'; states: (AgentTaskState | undefined)[] }
  | {
      kind: 'apply';
      states: (AgentTaskState | undefined)[];
      patch: Partial<Task>;
      event: 'job_requeued' | 'job_failed' | undefined;
      /** Nodes to cancel because the gang ended as a unit. */
      stop: NodeStop[];
    };

export const isGang = (t: Task): boolean => (t.node_assignments?.length ?? 0) > 1;

/** The node rank `workerId` holds in the gang's current assignment, or -1. */
export function rankOf(t: Task, workerId: string): number {
  return t.node_assignments?.findIndex((a) => a.worker_id === workerId) ?? -1;
}

/** What a task_status frame from one node does to the gang. `states` are the nodes' last known states. */
export function decideGangStatus(task: Task, msg: TaskStatusMessage, workerId: string, states: readonly (AgentTaskState | undefined)[], now: number): GangDecision {
  const final = FINAL.includes(msg.state);
  const rank = rankOf(task, workerId);
  const onWorker = task.status === 'preparing' || task.status === 'running' || task.status === 'collecting';
  if (rank < 0 || task.epoch !== msg.epoch || !onWorker) {
    const reason = isFinalStatus(task.status) ? `task is ${task.status}` : rank < 0 || task.epoch !== msg.epoch ? 'task was reassigned' : `task is ${task.status} on control`;
    return final ? { kind: 'ignore', reason } : { kind: 'ignore', reason, cancel: { task_id: task.id, epoch: msg.epoch, reason } };
  }
  const n = task.node_assignments!.length;
  const next = Array.from({ length: n }, (_, i) => states[i]);
  if ((RANK[msg.state] ?? 0) <= (RANK[next[rank] ?? 'queued'] ?? 0)) return { kind: 'ignore', reason: 'duplicate or out of order' };
  next[rank] = msg.state;
  const at = typeof msg.at === 'string' && !Number.isNaN(Date.parse(msg.at)) ? new Date(msg.at).toISOString() : iso(now);

  if (msg.state === 'failed' || msg.state === 'cancelled') {
    const stop = task.node_assignments!.filter((a, i) => i !== rank && !FINAL.includes(next[i] as AgentTaskState)).map((a) => ({ rank: a.node_id, worker_id: a.worker_id }));
    const kind: FailureKind = msg.state === 'cancelled' ? 'infrastructure' : (msg.failure_kind ?? 'entrypoint');
    const what = msg.error ?? (msg.exit_code !== undefined ? `entrypoint exited with code ${msg.exit_code}` : msg.state === 'cancelled' ? 'cancelled on the agent' : 'failed');
    const error = `node ${rank} (worker ${workerId}): ${what}`;
    if (retryable(task, kind)) {
      return { kind: 'apply', states: next, patch: requeuePatch(task, `gang node failed, requeued: ${error}`, now, error), event: 'job_requeued', stop };
    }
    return {
      kind: 'apply',
      states: next,
      patch: { status: 'failed', ended_at: at, error, failure_kind: kind, ...(msg.exit_code !== undefined ? { exit_code: msg.exit_code } : {}), ...startedPatch(task, msg, at) },
      event: 'job_failed',
      stop,
    };
  }
  const least = Math.min(...next.map((s) => RANK[s ?? 'queued'] ?? 0));
  if (next.every((s) => s === 'completed')) {
    return { kind: 'apply', states: next, patch: { status: 'completed', ended_at: at, exit_code: 0, ...startedPatch(task, msg, at) }, event: undefined, stop: [] };
  }
  if (least >= RANK.collecting! && task.status !== 'collecting') {
    return { kind: 'apply', states: next, patch: { status: 'collecting', ...startedPatch(task, msg, at) }, event: undefined, stop: [] };
  }
  if (least >= RANK.running! && task.status === 'preparing') {
    return { kind: 'apply', states: next, patch: { status: 'running', ...startedPatch(task, msg, at) }, event: undefined, stop: [] };
  }
  return { kind: 'record', states: next };
}

/** Ends a gang from control's side (a node's worker lost, a drain deadline): the nodes to cancel. */
export function gangStops(task: Task, except?: string): NodeStop[] {
  return (task.node_assignments ?? []).filter((a) => a.worker_id !== except).map((a) => ({ rank: a.node_id, worker_id: a.worker_id }));
}

/**
 * Pure decisions about tasks and workers: what to do when an agent says hello (reconcile), when
 * it reports a task state, and when it goes silent. The gateway applies them.
 */
import type { FailureKind, Task, TaskStatus, WorkerStatus } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import type { AgentTaskState, RunningTaskReport, TaskStatusMessage } from '../../shared/protocol.js';
import { iso } from '../../shared/time.js';

const ON_WORKER: readonly TaskStatus[] = ['preparing', 'running', 'collecting'];
const AGENT_FINAL: readonly AgentTaskState[] = ['completed', 'failed', 'cancelled'];

export interface CancelOrder {
  task_id: string;
  epoch: number;
  reason: string;
}

/** The workers a placed task has a node on: every node of a gang, else its one worker. */
export function nodeWorkers(t: Task): string[] {
  if (t.node_assignments?.length) return t.node_assignments.map((a) => a.worker_id);
  return t.worker_id ? [t.worker_id] : [];
}

/** Tasks control has placed on a worker (any node of a gang) and not seen finish. */
export function tasksOnWorker(tasks: Iterable<Task>, workerId: string): Task[] {
  const out: Task[] = [];
  for (const t of tasks) if (ON_WORKER.includes(t.status) && nodeWorkers(t).includes(workerId)) out.push(t);
  return out;
}

/**
 * On hello: tasks control thinks run there but the agent does not report are lost; copies the
 * agent runs that control no longer wants there (cancelled, reassigned: epoch mismatch) are killed.
 */
export function reconcileHello(
  workerId: string,
  reported: readonly RunningTaskReport[],
  lookup: (taskId: string) => Task | undefined,
  onWorker: readonly Task[],
): { lost: Task[]; cancel: CancelOrder[] } {
  const reportedIds = new Map(reported.map((r) => [r.task_id, r]));
  const lost = onWorker.filter((t) => {
    const r = reportedIds.get(t.id);
    return !r || r.epoch !== t.epoch;
  });
  const cancel: CancelOrder[] = [];
  for (const r of reported) {
    if (AGENT_FINAL.includes(r.state)) continue; // a finished copy only needs its result delivered
    const t = lookup(r.task_id);
    const reason = staleReason(t, workerId, r.epoch);
    if (reason) cancel.push({ task_id: r.task_id, epoch: r.epoch, reason });
  }
  return { lost, cancel };
}

function staleReason(t: Task | undefined, workerId: string, epoch: number): string | undefined {
  if (!t) return 'task unknown to control';
  if (t.status === 'cancelled') return 'task was cancelled';
  if (t.epoch !== epoch || !nodeWorkers(t).includes(workerId)) return 'task was reassigned';
  if (!ON_WORKER.includes(t.status)) return `task is ${t.status} on control`;
  return undefined;
}

export type StatusDecision =
  | { kind: 'ignore'; reason: string; cancel?: CancelOrder }
  | { kind: 'apply'; patch: Partial<Task>; event: 'job_started' | 'job_completed' | 'job_failed' | 'job_cancelled' | 'job_requeued' | undefined };

const RANK: Record<string, number> = { queued: 0, preparing: 1, running: 2, collecting: 3, completed: 4, failed: 4, cancelled: 4 };

/** What a task_status frame from `workerId` does to the task. */
/** Refusals of one task requeued without spending a retry; later ones count (a worker that always refuses cannot bounce a task forever). */
export const FREE_REFUSALS = 3;

/** `refusals`: how often agents refused this task before (the gateway counts them). */
export function decideStatus(task: Task | undefined, msg: TaskStatusMessage, workerId: string, now: number, refusals = 0): StatusDecision {
  const final = AGENT_FINAL.includes(msg.state);
  const reason = staleReason(task, workerId, msg.epoch);
  if (!task || reason) {
    return final ? { kind: 'ignore', reason: reason ?? 'stale' } : { kind: 'ignore', reason: reason ?? 'stale', cancel: { task_id: msg.task_id, epoch: msg.epoch, reason: reason ?? 'stale' } };
  }
  if ((RANK[msg.state] ?? 0) <= (RANK[task.status] ?? 0)) return { kind: 'ignore', reason: 'duplicate or out of order' };
  const at = validIso(msg.at) ?? iso(now);
  const started = startedPatch(task, msg, at);
  switch (msg.state) {
    case 'preparing':
      return { kind: 'apply', patch: { status: 'preparing' }, event: undefined };
    case 'running':
      return { kind: 'apply', patch: { status: 'running', started_at: validIso(msg.started_at) ?? at }, event: 'job_started' };
    case 'collecting':
      return { kind: 'apply', patch: { status: 'collecting', ...started }, event: undefined };
    case 'completed':
      return { kind: 'apply', patch: { status: 'completed', ended_at: at, exit_code: msg.exit_code ?? 0, ...started }, event: 'job_completed' };
    case 'cancelled':
      return { kind: 'apply', patch: { status: 'cancelled', ended_at: at, failure_kind: 'cancelled', ...(msg.exit_code !== undefined ? { exit_code: msg.exit_code } : {}), ...(msg.started_at ? started : {}) }, event: 'job_cancelled' };
    case 'failed': {
      const kind: FailureKind = msg.failure_kind ?? 'entrypoint';
      const error = msg.error ?? (msg.exit_code !== undefined ? `entrypoint exited with code ${msg.exit_code}` : 'task failed');
      // Control's view of the worker was off (it is held out of planning until its next heartbeat):
      // the task did nothing wrong, so no retry is spent, up to FREE_REFUSALS times.
      if (msg.refused === true && refusals < FREE_REFUSALS) {
        return { kind: 'apply', patch: requeuePatch(task, `worker ${workerId} refused it, requeued: ${error}`, now, error, false), event: 'job_requeued' };
      }
      if (retryable(task, kind)) {
        const why = kind === 'entrypoint' ? 'entrypoint failed, retrying (the task set max_retries)' : 'infrastructure failure';
        return { kind: 'apply', patch: requeuePatch(task, `${why}, requeued: ${error}`, now, error), event: 'job_requeued' };
      }
      return {
        kind: 'apply',
        patch: { status: 'failed', ended_at: at, error, failure_kind: kind, ...(msg.exit_code !== undefined ? { exit_code: msg.exit_code } : {}), ...(msg.started_at ? started : {}) },
        event: 'job_failed',
      };
    }
  }
}

/**
 * started_at for a state past running when control has none yet: the agent's started_at (its
 * running report was superseded before it went out), else this frame's time (an agent that
 * reports collecting or completed has run the entrypoint).
 */
export function startedPatch(task: Task, msg: TaskStatusMessage, at: string): Partial<Task> {
  return task.started_at ? {} : { started_at: validIso(msg.started_at) ?? at };
}

/**
 * Whether a failure of this kind sends the task back to the queue: infrastructure failures and
 * lost workers while retries are left; the entrypoint's own non-zero exit only when the task asked
 * for retries (an explicit max_retries at creation: `retry_on_exit`).
 */
export function retryable(task: Pick<Task, 'retry_count' | 'max_retries' | 'retry_on_exit'>, kind: FailureKind): boolean {
  if (!(task.retry_count < task.max_retries)) return false;
  if (kind === 'infrastructure' || kind === 'worker_lost') return true;
  return kind === 'entrypoint' && task.retry_on_exit === true;
}

function validIso(s: unknown): string | undefined {
  return typeof s === 'string' && !Number.isNaN(Date.parse(s)) ? new Date(s).toISOString() : undefined;
}

/**
 * Back to the queue. `countRetry` false (a drain deadline: not the task's fault) leaves
 * retry_count alone. Retries wait retryBackoffMs(retry_count) from queued_at before being planned.
 */
export function requeuePatch(task: Task, pendingReason: string, now: number, error?: string, countRetry = true): Partial<Task> {
  return {
    status: 'queued',
    worker_id: undefined,
    node_assignments: undefined,
    retry_count: task.retry_count + (countRetry ? 1 : 0),
    queued_at: iso(now),
    started_at: undefined,
    pending_reason: pendingReason,
    ...(error ? { error } : {}),
  };
}

/** Back-off before retry n (1-based) is planned: 2 s, 4 s, 8 s … capped at 60 s; 0 before any retry. */
export function retryBackoffMs(retryCount: number): number {
  if (!(retryCount >= 1)) return 0;
  return Math.min(60_000, 2_000 * 2 ** Math.min(10, retryCount - 1));
}

/** A task whose worker vanished: back to the queue with one more retry, or failed past max_retries. */
export function lostTaskDecision(task: Task, workerId: string, now: number): { patch: Partial<Task>; event: 'job_requeued' | 'job_failed' } {
  if (task.retry_count < task.max_retries) {
    return { patch: requeuePatch(task, `worker ${workerId} lost; requeued`, now), event: 'job_requeued' };
  }
  return {
    patch: { status: 'failed', ended_at: iso(now), failure_kind: 'worker_lost', error: `worker lost: ${workerId} stopped responding and the task has no retries left` },
    event: 'job_failed',
  };
}

export interface LivenessView {
  id: string;
  status: WorkerStatus;
  /** ms since epoch of the last frame seen (or when control started, for workers never seen since). */
  last_seen: number;
}

/** Workers silent for longer than `timeoutMs` at `now` that are not already offline. */
export function overdueWorkers(workers: readonly LivenessView[], now: number, timeoutMs: number): string[] {
  return workers.filter((w) => w.status !== 'offline' && now - w.last_seen > timeoutMs).map((w) => w.id);
}

export const isFinalTask = (t: Task) => isFinalStatus(t.status);

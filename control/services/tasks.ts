/** Tasks: creation (single and batch), listing, cancel, and the one way to change a task (transition). */
import { randomUUID } from 'node:crypto';
import type { AuditEventDraft, CreateTaskRequest, Task, TaskList, TaskStatus } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import { conflict, notFound, TaskFailure, validationError } from '../../shared/errors.js';
import { entrypointArgv, splitWords } from '../../shared/entrypoint.js';
import { iso, type Clock } from '../../shared/time.js';
import type { ControlEvents } from '../context.js';
import type { Mutation, Store } from '../store/types.js';
import { canSee, commitAndAnnounce, isAdmin, type Actor } from './actor.js';
import { taskPresenter, type AgingConfig } from './task-view.js';

export const DEFAULT_PRIORITY = 5;
export const DEFAULT_MAX_RETRIES = 3;

const TRANSITION_EVENTS: Partial<Record<TaskStatus, AuditEventDraft['event_type']>> = {
  queued: 'job_queued',
  running: 'job_started',
  completed: 'job_completed',
  failed: 'job_failed',
  cancelled: 'job_cancelled',
};

export interface TaskQuery {
  status?: TaskStatus;
  user_id?: string;
  limit: number;
  offset: number;
}

export interface TaskService {
  create(actor: Actor, req: CreateTaskRequest): Promise<Task>;
  createMany(actor: Actor, reqs: CreateTaskRequest[]): Promise<Task[]>;
  list(actor: Actor, q: TaskQuery): TaskList;
  /** The task if the actor may see it; another user's task is "not found". */
  get(actor: Actor, id: string): Task;
  cancel(actor: Actor, id: string): Promise<Task>;
  /**
   * Applies `patch` to a task, commits it with the job_* audit event of a status change (plus any
   * extra drafts) and emits 'task'. Used by the scheduler and the agent gateway.
   */
  transition(taskId: string, patch: Partial<Task>, auditDrafts?: AuditEventDraft[]): Promise<Task>;
  /**
   * The task as the API shows it now (control/services/task-view.ts): a queued task's
   * `priority_aged` computed from queued_at and the clock. create/list/get already return this;
   * streams and routes that return a transition's result call it themselves.
   */
  present(t: Task): Task;
  /** A live task, else an archived one (read-only; FETCHML_TASK_RETENTION_DAYS); no visibility check. */
  find(id: string): Task | undefined;
}

/**
 * Refuses at submission what the agent would refuse at run time: shell syntax in `entrypoint` or
 * `args`, which are split into argv and never run by a shell (shared/entrypoint.ts).
 */
function checkCommandLine(req: CreateTaskRequest): void {
  try {
    if (req.entrypoint !== undefined && req.entrypoint.trim() !== '') entrypointArgv(req.entrypoint, req.args);
    else if (req.args !== undefined) splitWords(req.args, 'args');
  } catch (err) {
    if (err instanceof TaskFailure) throw validationError(err.message);
    throw err;
  }
}

/** Where finished tasks go after the retention (control/store/task-archive.ts); read-only here. */
export interface ArchivedTasks {
  get(id: string): Task | undefined;
}

export function createTaskService(deps: { store: Store; events: ControlEvents; clock: Clock; aging?: AgingConfig; archive?: ArchivedTasks; pendingReason?: (taskId: string) => string | undefined }): TaskService {
  const { store, events, clock } = deps;
  const present = taskPresenter(() => clock.now(), deps.aging, deps.pendingReason);

  const build = (actor: Actor, req: CreateTaskRequest, now: string): Task => {
    if (actor.kind !== 'key') throw validationError('agents cannot create tasks');
    if (req.reservation_id !== undefined) {
      const r = store.get('reservations', req.reservation_id);
      if (!r || (!isAdmin(actor) && r.user_id !== actor.user_id)) throw validationError('reservation_id: no such reservation');
      if (r.status !== 'active') throw validationError(`reservation_id: reservation is ${r.status}`);
    }
    if (req.experiment_id !== undefined && !store.get('experiments', req.experiment_id)) {
      throw validationError('experiment_id: no such experiment');
    }
    checkCommandLine(req);
    // Only the request's own fields are copied; the schema already refused unknown ones.
    return {
      ...req,
      id: randomUUID(),
      job_name: req.job_name,
      status: 'queued',
      priority: req.priority ?? DEFAULT_PRIORITY,
      user_id: actor.user_id,
      retry_count: 0,
      max_retries: req.max_retries ?? DEFAULT_MAX_RETRIES,
      // An explicit max_retries is the task asking for retries: its entrypoint's failures retry too.
      // (The schema therefore has no `default` for max_retries: ajv's useDefaults would hide this.)
      retry_on_exit: req.max_retries !== undefined,
      node_count: req.node_count ?? 1,
      slot_kind: req.slot_kind ?? 'batch',
      epoch: 0,
      created_at: now,
      queued_at: now,
      updated_at: now,
    };
  };

  const queuedEvent = (t: Task, actor: Actor): AuditEventDraft => ({
    event_type: 'job_queued',
    user_id: t.user_id,
    resource: `task:${t.id}`,
    action: 'create',
    success: true,
    ...(actor.ip ? { ip_address: actor.ip } : {}),
    metadata: { job_name: t.job_name, priority: t.priority },
  });

  const createMany = async (actor: Actor, reqs: CreateTaskRequest[]): Promise<Task[]> => {
    const now = iso(clock.now());
    const tasks = reqs.map((r) => build(actor, r, now));
    await commitAndAnnounce(
      store,
      events,
      tasks.map((value) => ({ op: 'put', coll: 'tasks', value }) as Mutation),
      tasks.map((t) => queuedEvent(t, actor)),
    );
    for (const t of tasks) events.emit('task', t);
    return tasks;
  };

  // A live task shadows any archived line of the same id; an archived one answers like a live
  // finished task (same visibility, cancel → 409). list() covers live tasks only.
  const visible = (actor: Actor, id: string): Task => {
    const t = store.get('tasks', id) ?? deps.archive?.get(id);
    if (!t || !canSee(actor, t.user_id)) throw notFound('Task');
    return t;
  };

  const transition = async (taskId: string, patch: Partial<Task>, extra: AuditEventDraft[] = []): Promise<Task> => {
    const prev = store.get('tasks', taskId);
    if (!prev) throw notFound('Task');
    const next: Task = { ...prev, ...patch, id: prev.id, updated_at: iso(clock.now()) };
    const drafts: AuditEventDraft[] = [];
    // A task that started and ended within one report (the agent's running report was superseded)
    // is still audited as started, before its end.
    if (next.started_at && !prev.started_at && next.status !== 'running' && next.status !== 'queued') {
      drafts.push({ event_type: 'job_started', user_id: next.user_id, resource: `task:${next.id}`, action: 'running', success: true, metadata: { from: prev.status, ...(next.worker_id ? { worker_id: next.worker_id } : {}) } });
    }
    const type = next.status !== prev.status ? TRANSITION_EVENTS[next.status] : undefined;
    if (type) {
      drafts.push({
        event_type: type,
        user_id: next.user_id,
        resource: `task:${next.id}`,
        action: next.status,
        success: next.status !== 'failed',
        ...(next.error ? { error: next.error } : {}),
        metadata: { from: prev.status, ...(next.worker_id ? { worker_id: next.worker_id } : {}), ...(next.exit_code !== undefined ? { exit_code: next.exit_code } : {}) },
      });
    }
    drafts.push(...extra);
    await commitAndAnnounce(store, events, [{ op: 'put', coll: 'tasks', value: next }], drafts);
    events.emit('task', next, prev.status);
    return next;
  };

  return {
    create: async (actor, req) => present((await createMany(actor, [req]))[0]!),
    createMany: async (actor, reqs) => (await createMany(actor, reqs)).map(present),
    list(actor, q) {
      const user = isAdmin(actor) ? q.user_id : actor.kind === 'key' ? actor.user_id : '\0';
      const out: Task[] = [];
      let total = 0;
      for (const t of store.values('tasks')) {
        if (user !== undefined && t.user_id !== user) continue;
        if (q.status !== undefined && t.status !== q.status) continue;
        if (total >= q.offset && out.length < q.limit) out.push(present(t));
        total++;
      }
      return { tasks: out, total, limit: q.limit, offset: q.offset };
    },
    get: (actor, id) => present(visible(actor, id)),
    async cancel(actor, id) {
      const t = visible(actor, id);
      if (isFinalStatus(t.status)) throw conflict(`Task already ${t.status}`);
      return transition(id, { status: 'cancelled', ended_at: iso(clock.now()), failure_kind: 'cancelled' }, []);
    },
    transition,
    find: (id) => store.get('tasks', id) ?? deps.archive?.get(id),
    present,
  };
}

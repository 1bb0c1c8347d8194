/**
 * The shell around the pure planner (control/scheduler/plan.ts): builds PlanInput from the live
 * queue and workers, runs plan(), applies its decisions. Passes are coalesced: at most one runs at
 * a time; requests made meanwhile fold into one follow-up pass, started no sooner than the last
 * pass took (so planning uses at most about half of the event loop under a stream of events).
 * A slow timer runs a pass anyway, for aging and reservation expiry.
 *
 * Applied decisions:
 *  - start → TaskService.transition (status preparing, epoch+1, worker_id = rank 0's worker,
 *    node_assignments), then one assign frame per node;
 *  - reservations claimed/expired → stored and audited;
 *  - pending_reason and priority_aged (rounded to 0.1) → written for the first `pendingWrites`
 *    waiting tasks only, and only when changed, in one commit per pass.
 */
import { assignedPluginConfigs } from '../services/plugins.js';
import type { Reservation, Task, TaskStatus } from '../../shared/api-types.js';
import type { TaskAssignment } from '../../shared/protocol.js';
import { iso } from '../../shared/time.js';
import type { ControlContext } from '../context.js';
import { plan, toSchedReservation, toSchedTask, type PendingTable, type PlanConfig, type SchedTask, type TaskStart } from '../scheduler/index.js';
import { commitAndAnnounce } from '../services/actor.js';
import type { Mutation } from '../store/types.js';
import { assignmentOf, masterPort, portRangeFromEnv } from './assignment.js';
import { retryBackoffMs } from './reconcile.js';
import type { WorkerRegistry } from './registry.js';

export interface PassStats {
  passes: number;
  last_ms: number;
  last_queued: number;
  last_started: number;
  last_at?: string;
  /** Where the last pass spent its time (ms): building the input, plan(), applying. */
  last_phases?: { workers: number; queue: number; plan: number; apply: number };
}

export interface SchedulerLoop {
  /** Asks for a pass on the next tick (coalesced). */
  request(): void;
  /** Runs a pass now (or waits for the one in flight and the follow-up) and resolves when applied. */
  runNow(): Promise<void>;
  /** Whether the last pass left free slots somewhere: if not, a new task cannot start yet. */
  hasFreeCapacity(): boolean;
  /** Called for every 'task' event: reservations released by their claiming task, re-plans. */
  noteTask(t: Task, prev?: TaskStatus): void;
  /** Why a queued task waits, from the latest pass (every waiting task, not only the stored first ones). */
  pendingReason(taskId: string): string | undefined;
  stats(): PassStats;
  close(): Promise<void>;
}

export interface LoopOptions {
  slowTimerMs?: number;
  /** How many waiting tasks (in scheduling order) get pending_reason/priority_aged written. */
  pendingWrites?: number;
  pendingEveryMs?: number;
  plan?: Partial<PlanConfig>;
}

const round1 = (v: number) => Math.round(v * 10) / 10;
/**
 * A follow-up pass waits at least this long: under a stream of finishing tasks each pass would
 * otherwise start one task and re-order the whole queue for it. A first pass (nothing running)
 * is never delayed, so an idle cluster's dispatch latency does not change.
 */
const FOLLOW_UP_MIN_MS = 3;

/** A queued task with its retry back-off (0 when none). */
type WaitingTask = SchedTask & { retry_not_before: number };

export function createSchedulerLoop(
  ctx: ControlContext,
  registry: WorkerRegistry,
  send: (workerId: string, a: TaskAssignment) => void,
  opts: LoopOptions = {},
): SchedulerLoop {
  const log = ctx.logger.child({ part: 'scheduler' });
  const cfg = ctx.config as Partial<typeof ctx.config>;
  const planConfig: Partial<PlanConfig> = {
    ...(cfg.agingRatePerMinute !== undefined ? { agingRatePerMinute: cfg.agingRatePerMinute } : {}),
    ...(cfg.agingCap !== undefined ? { agingCap: cfg.agingCap } : {}),
    ...opts.plan,
  };
  const ports = portRangeFromEnv({ FETCHML_MASTER_PORT_RANGE: cfg.masterPortRange ?? '' });
  const pendingWrites = opts.pendingWrites ?? 100;
  /** Pending reasons churn as the head changes; written at most this often (starts are never delayed). */
  const pendingEveryMs = opts.pendingEveryMs ?? 1000;
  /** The latest pass's reasons for every waiting task (the API shows them; only the first are stored). */
  let lastPending: PendingTable | undefined;
  let pendingWrittenAt = -Infinity;
  const stats: PassStats = { passes: 0, last_ms: 0, last_queued: 0, last_started: 0 };
  let freeCapacity = true;
  let closed = false;
  let running: Promise<void> | undefined;
  /** The pass that is scheduled and not yet started; a stale timer finds its token replaced and does nothing. */
  let scheduled: symbol | undefined;
  const schedule = (delayMs?: number) => {
    const token = Symbol('pass');
    scheduled = token;
    const fire = () => {
      if (scheduled === token) void run();
    };
    if (delayMs === undefined) setImmediate(fire);
    else setTimeout(fire, delayMs);
  };
  let again = false;
  /** Commits of applied decisions (starts, expiries, pending reasons) not yet durable. */
  const inflight = new Set<Promise<unknown>>();
  let backoffTimer: NodeJS.Timeout | undefined;

  /**
   * The queued tasks as the planner sees them, kept current from task events (noteTask) in the
   * order they entered the queue: a pass reads it without touching the store's 100k Task objects.
   */
  const waiting = new Map<string, WaitingTask>();
  const toWaiting = (t: Task): WaitingTask => {
    const s = toSchedTask(t, 0) as WaitingTask;
    s.retry_not_before = t.retry_count > 0 ? s.queued_at + retryBackoffMs(t.retry_count) : 0;
    return s;
  };
  for (const t of registry.queued.values()) waiting.set(t.id, toWaiting(t));

  const queue = (now: number): SchedTask[] => {
    const out: SchedTask[] = [];
    let wake = Infinity;
    for (const s of waiting.values()) {
      // A retry waits out its back-off (counted from when it was requeued) before it is planned.
      if (s.retry_not_before > now) {
        wake = Math.min(wake, s.retry_not_before);
        continue;
      }
      s.created_seq = out.length; // FIFO = the order tasks entered the queue
      out.push(s);
    }
    if (wake < Infinity && !closed) {
      if (backoffTimer) clearTimeout(backoffTimer);
      backoffTimer = setTimeout(() => request(), Math.max(10, wake - now + 5));
      backoffTimer.unref();
    }
    return out;
  };

  const start = async (s: TaskStart, t: Task): Promise<void> => {
    const nodes = [...s.nodes].sort((a, b) => a.rank - b.rank);
    const patch: Partial<Task> = {
      status: 'preparing',
      worker_id: nodes[0]!.worker_id,
      epoch: t.epoch + 1,
      node_assignments: nodes.map((n) => ({ node_id: n.rank, worker_id: n.worker_id, slot_assigned: true })),
      pending_reason: undefined,
      priority_aged: round1(s.priority_aged.effective),
      error: undefined,
      exit_code: undefined,
      failure_kind: undefined,
      started_at: undefined,
      ended_at: undefined,
    };
    const committed = ctx.tasks.transition(t.id, patch);
    // The store applied the start to memory already; the registry and the queue learn of it now
    // (not when its commit is durable), so a pass that runs meanwhile counts the slot and GPUs as
    // used and does not plan the task again.
    const applied = ctx.store.get('tasks', t.id);
    if (applied && applied.status === 'preparing' && applied.epoch === t.epoch + 1) {
      registry.track(applied);
      waiting.delete(t.id);
    }
    // Claimed in memory at once too, so a pass meanwhile does not give the reservation away again.
    let claimed: Promise<unknown> = Promise.resolve();
    if (s.reservation_id) {
      const r = ctx.store.get('reservations', s.reservation_id);
      if (r && r.status === 'active') {
        claimed = commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'reservations', value: { ...r, status: 'claimed', task_id: t.id } }], [
          { event_type: 'reservation_claimed', user_id: r.user_id, resource: `reservation:${r.id}`, action: 'claim', success: true, metadata: { task_id: t.id } },
        ]);
      }
    }
    const next = await committed;
    // Changed while the commit was in flight (cancelled, or lost with its worker): no assignment.
    const now = ctx.store.get('tasks', t.id);
    if (!now || now.epoch !== next.epoch || now.status !== 'preparing') return void (await claimed);
    const masterAddr = registry.live.get(nodes[0]!.worker_id)?.hello.address || registry.stored(nodes[0]!.worker_id)?.address || '127.0.0.1';
    const port = masterPort(next.id, next.epoch, ports);
    for (const n of nodes) send(n.worker_id, assignmentOf({ ...next, plugin_configs: assignedPluginConfigs(ctx.store, next) }, { rank: n.rank, nodes: nodes.length, masterAddr, masterPort: port }));
    await claimed;
  };

  const pass = async (): Promise<void> => {
    const t0 = performance.now();
    const now = ctx.clock.now();
    const workers = registry.planWorkers();
    const t1 = performance.now();
    const reservations = [...ctx.store.values('reservations')].filter((r) => r.status === 'active');
    const q = queue(now);
    const t2 = performance.now();
    const result = plan({ now, queue: q, workers, reservations: reservations.map(toSchedReservation), config: planConfig });
    lastPending = result.pending;
    const t3 = performance.now();
    const work: Promise<unknown>[] = [];
    let started = 0;
    let slotsLeft = 0;
    for (const w of workers) if (w.status === 'active') slotsLeft += w.batch_free + w.service_free;
    for (const s of result.starts) {
      const t = ctx.store.get('tasks', s.task_id);
      if (!t || t.status !== 'queued') continue; // cancelled since the snapshot
      started++;
      slotsLeft -= s.nodes.length;
      work.push(start(s, t).catch((err: unknown) => log.error({ err, task: t.id }, 'could not apply a start')));
    }
    freeCapacity = slotsLeft > 0;
    for (const d of result.reservations) {
      const r = ctx.store.get('reservations', d.id);
      if (!r || r.status !== 'active' || d.status !== 'expired') continue;
      work.push(
        commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'reservations', value: { ...r, status: 'expired' } }], [
          { event_type: 'reservation_expired', user_id: r.user_id, resource: `reservation:${r.id}`, action: 'expire', success: true },
        ]),
      );
    }
    // Pending reasons: the first K waiting tasks, only what changed, one commit, at most once a second.
    const changed: Task[] = [];
    let k = 0;
    const writePending = performance.now() - pendingWrittenAt >= pendingEveryMs;
    if (writePending) pendingWrittenAt = performance.now();
    else again = true; // come back for them (a later pass, or the slow timer)
    for (const [id, info] of writePending ? result.pending : []) {
      if (k++ >= pendingWrites) break;
      // The store, not the registry: a change committed but not yet announced must not be overwritten.
      const t = ctx.store.get('tasks', id);
      if (!t || t.status !== 'queued') continue;
      const aged = round1(info.priority_aged.effective);
      if (t.pending_reason !== info.reason || t.priority_aged !== aged) changed.push({ ...t, pending_reason: info.reason, priority_aged: aged, updated_at: iso(now) });
    }
    if (changed.length) {
      work.push(
        commitAndAnnounce(ctx.store, ctx.events, changed.map((value) => ({ op: 'put', coll: 'tasks', value }) as Mutation)).then(() => {
          for (const t of changed) {
            const cur = ctx.store.get('tasks', t.id);
            if (cur && cur.status === 'queued' && cur.updated_at === t.updated_at && cur.pending_reason === t.pending_reason) ctx.events.emit('task', cur, 'queued');
          }
        }),
      );
    }
    const t4 = performance.now();
    // Commits finish in the background (assign frames go out as each start is durable): the next
    // pass may run meanwhile, the registry already counts these starts as used capacity.
    for (const w of work) {
      const p = w.catch((err: unknown) => log.error({ err }, 'could not apply a scheduling decision'));
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    const r1 = (v: number) => Math.round(v * 10) / 10;
    stats.last_phases = { workers: r1(t1 - t0), queue: r1(t2 - t1), plan: r1(t3 - t2), apply: r1(t4 - t3) };
    stats.passes++;
    stats.last_ms = Math.round((t4 - t0) * 10) / 10;
    stats.last_queued = q.length;
    stats.last_started = started;
    stats.last_at = iso(now);
  };

  const run = (): Promise<void> => {
    scheduled = undefined;
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        await pass();
      } catch (err) {
        log.error({ err }, 'scheduling pass failed');
      } finally {
        running = undefined;
      }
      if (again && !closed) {
        again = false;
        // Back to back under load, but leave the event loop twice as long as the pass took
        // (planning takes at most about a third of it). The pass's time is its CPU part: the
        // fsyncs of its commits are not waited for.
        if (!scheduled) schedule(Math.min(1000, Math.max(FOLLOW_UP_MIN_MS, 2 * stats.last_ms)));
      }
    })();
    return running;
  };

  const request = () => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    if (!scheduled) schedule();
  };

  const slow = setInterval(request, opts.slowTimerMs ?? 5000);
  slow.unref();

  /** A claimed reservation whose task ended (or went back to the queue) is active again until it expires. */
  const release = (t: Task) => {
    const r = t.reservation_id ? ctx.store.get('reservations', t.reservation_id) : undefined;
    if (!r || r.status !== 'claimed' || r.task_id !== t.id) return;
    const expired = !(Date.parse(r.expires_at) > ctx.clock.now());
    const { task_id: _t, ...rest } = r;
    const next: Reservation = { ...rest, status: expired ? 'expired' : 'active' };
    void commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'reservations', value: next }], expired
      ? [{ event_type: 'reservation_expired', user_id: r.user_id, resource: `reservation:${r.id}`, action: 'expire', success: true }]
      : []).then(request, (err: unknown) => log.error({ err }, 'could not release a reservation'));
  };

  return {
    request,
    async runNow() {
      request();
      while (running || scheduled || inflight.size) {
        if (scheduled) await run();
        else if (running) await running;
        else await Promise.all([...inflight]);
      }
    },
    hasFreeCapacity: () => freeCapacity,
    pendingReason: (taskId) => lastPending?.get(taskId)?.reason,
    noteTask(t, prev) {
      const had = waiting.get(t.id);
      // Events arrive once commits are durable; memory may be further on (a start in flight).
      const cur = ctx.store.get('tasks', t.id) ?? t;
      if (cur.status !== 'queued') waiting.delete(t.id);
      else if (t.status === 'queued') {
        const s = toWaiting(cur);
        if (had && prev !== undefined && prev !== 'queued') waiting.delete(t.id); // a requeue goes last
        waiting.set(t.id, s);
      } else waiting.delete(t.id);
      if (t.status !== 'queued' && t.status !== 'preparing' && t.status !== 'running' && t.status !== 'collecting') release(t);
      else if (t.status === 'queued' && prev !== undefined && prev !== 'queued') release(t);
      if (prev === undefined) {
        // A new task can only start where a slot is free; the slow timer gives it its reason.
        if (t.status === 'queued' && freeCapacity) request();
      } else if (prev !== t.status) {
        if (t.status === 'queued' || !['preparing', 'running', 'collecting'].includes(t.status)) request();
      } else if (t.status === 'queued') {
        if (had && had.priority !== t.priority) request(); // priority change
      }
    },
    stats: () => ({ ...stats }),
    async close() {
      closed = true;
      clearInterval(slow);
      if (backoffTimer) clearTimeout(backoffTimer);
      scheduled = undefined;
      await running;
      await Promise.all([...inflight]);
    },
  };
}

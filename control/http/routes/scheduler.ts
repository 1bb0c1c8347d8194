/**
 * Scheduler endpoints: status, workers (live gateway view merged with stored workers), drain and
 * undrain, reservations, priority changes, and the SSE streams. docs/scheduling.md has the rules.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Reservation, Task, Worker } from '../../../shared/api-types.js';
import { isFinalStatus } from '../../../shared/api-types.js';
import { badRequest, conflict, notFound, validationError } from '../../../shared/errors.js';
import { iso, MINUTE, SECOND } from '../../../shared/time.js';
import { liveScheduler } from '../../agents/live.js';
import type { ControlContext } from '../../context.js';
import { agedPriority, checkReservationFeasible, resolveConfig, toSchedTask, toSchedWorker } from '../../scheduler/index.js';
import { EventRing, parseLastEventId, type RingEvent } from '../../scheduler/event-ring.js';
import { canSee, commitAndAnnounce } from '../../services/actor.js';
import { schedulerStatus } from '../../services/stats.js';
import type { StoredWorker } from '../../store/types.js';
import { actorOf, body, params, query, userOf, type ApiDeps, type Handlers } from './types.js';

const KEEP_ALIVE_MS = 15 * SECOND;
/** The longest drain deadline accepted (a week). */
const MAX_DRAIN_SECONDS = 7 * 24 * 3600;

/**
 * One per control: a ring of task/worker/status events shared by every SSE client. It starts
 * recording when the first stream opens (so a busy control without streams pays nothing).
 */
class StreamHub {
  readonly ring = new EventRing(10_000);
  private readonly listeners = new Set<(e: RingEvent) => void>();
  private started = false;
  private statusTimer: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: ControlContext) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.ctx.events.on('task', (t: Task) => {
      this.publish('task', this.ctx.tasks.present(t), t.id);
      this.statusSoon();
    });
    this.ctx.events.on('worker', (w: Worker) => {
      this.publish('worker', w);
      this.statusSoon();
    });
  }

  status() {
    return schedulerStatus(this.ctx.store, this.ctx.clock.now());
  }

  /** The status summary scans every task: at most one per second, and only after a change. */
  private statusSoon(): void {
    if (this.statusTimer || this.listeners.size === 0) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      if (this.listeners.size) this.publish('status', this.status());
    }, SECOND);
    this.statusTimer.unref();
  }

  publish(event: string, data: unknown, taskId?: string): void {
    const e = this.ring.push(event, JSON.stringify(data), taskId);
    for (const l of this.listeners) l(e);
  }

  subscribe(fn: (e: RingEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
const hubs = new WeakMap<ControlContext, StreamHub>();
const hubOf = (ctx: ControlContext) => {
  let h = hubs.get(ctx);
  if (!h) hubs.set(ctx, (h = new StreamHub(ctx)));
  h.start();
  return h;
};

/** Opens an SSE response: `event:`/`id:`/`data:` frames, keep-alive comments every 15 s. */
function openSse(req: FastifyRequest, reply: FastifyReply) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-trace-id': String(req.id),
  });
  res.write(': connected\n\n');
  const cleanups: Array<() => void> = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const c of cleanups) c();
    res.end();
  };
  res.on('close', close);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  keepAlive.unref();
  cleanups.push(() => clearInterval(keepAlive));
  return {
    send: (e: { id?: number; event: string; data: string }) => {
      // Field order within an event is free in SSE; data before id keeps `event:` and `data:` adjacent.
      if (!closed) res.write(`event: ${e.event}\ndata: ${e.data}\n${e.id !== undefined ? `id: ${e.id}\n` : ''}\n`);
    },
    onClose: (fn: () => void) => cleanups.push(fn),
    close,
  };
}

export function schedulerRoutes({ ctx }: ApiDeps): Handlers {
  const stored = (id: string): StoredWorker => {
    const w = ctx.store.get('workers', id);
    if (!w) throw notFound('Worker');
    return w;
  };
  const publicWorker = (w: StoredWorker): Worker => {
    const live = liveScheduler(ctx)?.worker(w.id);
    if (live) return live;
    const { draining_reason: _r, ...rest } = w;
    return rest;
  };
  const saveWorker = async (next: StoredWorker, event: 'scheduler_drain' | 'scheduler_undrain', req: FastifyRequest, metadata: Record<string, unknown>) => {
    await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'workers', value: next }], [
      { event_type: event, user_id: userOf(req), resource: `worker:${next.id}`, action: event === 'scheduler_drain' ? 'drain' : 'undrain', success: true, metadata },
    ]);
    const view = publicWorker(next);
    ctx.events.emit('worker', view);
    return view;
  };
  const planConfig = () => resolveConfig({ agingRatePerMinute: ctx.config.agingRatePerMinute, agingCap: ctx.config.agingCap });

  return {
    getSchedulerStatus: () => schedulerStatus(ctx.store, ctx.clock.now()),

    streamSchedulerStatus: (req, reply) => {
      const hub = hubOf(ctx);
      const last = parseLastEventId(req.headers['last-event-id']);
      const missed = last === undefined ? undefined : hub.ring.since(last);
      const sse = openSse(req, reply);
      if (missed) for (const e of missed) sse.send(e);
      else sse.send({ id: hub.ring.lastId, event: 'status', data: JSON.stringify(hub.status()) });
      sse.onClose(hub.subscribe((e) => sse.send(e)));
      return reply;
    },

    listWorkers: () => liveScheduler(ctx)?.workers() ?? [...ctx.store.values('workers')].map(publicWorker),
    getWorker: (req) => publicWorker(stored(params<'workerId'>(req).workerId)),

    drainWorker: async (req, reply) => {
      const w = stored(params<'workerId'>(req).workerId);
      const q = query<Record<string, unknown>>(req) ?? {};
      const rawDeadline = q.deadline_seconds;
      let deadline: string | undefined;
      if (rawDeadline !== undefined) {
        const n = Number(rawDeadline);
        if (typeof rawDeadline !== 'string' || rawDeadline.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_DRAIN_SECONDS) {
          throw badRequest(`deadline_seconds must be a number of seconds between 0 and ${MAX_DRAIN_SECONDS}`);
        }
        deadline = iso(ctx.clock.now() + n * SECOND);
      }
      const reasonRaw = typeof q.reason === 'string' ? q.reason.slice(0, 200) : '';
      const reason = reasonRaw.trim() || 'drained by an operator';
      const { drain_deadline: _d, ...rest } = w;
      const next: StoredWorker = {
        ...rest,
        status: w.status === 'offline' ? 'offline' : 'draining',
        draining_reason: reason,
        status_reason: w.status === 'offline' ? (w.status_reason ?? 'offline') : `draining: ${reason}`,
        ...(deadline ? { drain_deadline: deadline } : {}),
      };
      await saveWorker(next, 'scheduler_drain', req, { reason, ...(deadline ? { deadline } : {}) });
      return reply.code(204).send();
    },

    undrainWorker: async (req) => {
      const w = stored(params<'workerId'>(req).workerId);
      const { draining_reason: _r, drain_deadline: _d, status_reason: _s, ...rest } = w;
      const next: StoredWorker = { ...rest, status: w.status === 'draining' ? 'active' : w.status };
      if (w.status === 'offline' && w.status_reason) next.status_reason = w.status_reason;
      return saveWorker(next, 'scheduler_undrain', req, { from: w.status });
    },

    listReservations: () => [...ctx.store.values('reservations')].filter((r) => r.status === 'active' || r.status === 'claimed'),

    createReservation: async (req, reply) => {
      const b = body<{ gpu_count: number; gpu_type?: string; node_count?: number; expires_minutes?: number; user_id?: string }>(req);
      const nodeCount = b.node_count ?? 1;
      const live = liveScheduler(ctx);
      // Connected workers when agents are served here; stored ones for an API-only control.
      const workers = live ? live.planWorkers() : [...ctx.store.values('workers')].map((w) => toSchedWorker(w, []));
      const feasible = checkReservationFeasible({ gpu_count: b.gpu_count, node_count: nodeCount, ...(b.gpu_type ? { gpu_type: b.gpu_type } : {}) }, workers);
      if (!feasible.ok) throw validationError(`reservation cannot be held on this cluster: ${feasible.reason}`);
      const now = ctx.clock.now();
      const r: Reservation = {
        id: randomUUID(),
        user_id: b.user_id ?? userOf(req),
        gpu_count: b.gpu_count,
        node_count: nodeCount,
        expires_at: iso(now + (b.expires_minutes ?? 30) * MINUTE),
        status: 'active',
        created_at: iso(now),
        ...(b.gpu_type !== undefined ? { gpu_type: b.gpu_type } : {}),
      };
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'reservations', value: r }], [
        { event_type: 'reservation_created', user_id: userOf(req), resource: `reservation:${r.id}`, action: 'create', success: true, metadata: { for_user: r.user_id, gpu_count: r.gpu_count, node_count: r.node_count } },
      ]);
      live?.scheduler.request();
      return reply.code(201).send(r);
    },

    cancelReservation: async (req, reply) => {
      const r = ctx.store.get('reservations', params<'reservationId'>(req).reservationId);
      if (!r) throw notFound('Reservation');
      if (r.status === 'active' || r.status === 'claimed') {
        // The audit enum has no reservation_cancelled; an ended reservation is recorded as expired, action "cancel".
        await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'reservations', value: { ...r, status: 'cancelled' } }], [
          { event_type: 'reservation_expired', user_id: userOf(req), resource: `reservation:${r.id}`, action: 'cancel', success: true, metadata: { from: r.status } },
        ]);
        liveScheduler(ctx)?.scheduler.request();
      }
      return reply.code(204).send();
    },

    updateJobPriority: async (req) => {
      const id = params<'jobId'>(req).jobId;
      const t = ctx.tasks.find(id); // an archived task is finished: 409 like any other
      if (!t) throw notFound('Task');
      if (isFinalStatus(t.status)) throw conflict(`Task already ${t.status}`);
      const priority = body<{ priority: number }>(req).priority;
      // Queued: the new effective priority at once (the next pass re-plans). Running: recorded, used if requeued.
      const patch: Partial<Task> = { priority };
      if (t.status === 'queued') {
        const aged = agedPriority(toSchedTask({ ...t, priority }, 0), ctx.clock.now(), planConfig());
        patch.priority_aged = Math.round(aged.effective * 10) / 10;
      }
      return ctx.tasks.present(await ctx.tasks.transition(id, patch, [
        { event_type: 'job_priority_changed', user_id: userOf(req), resource: `task:${id}`, action: 'priority', success: true, metadata: { from: t.priority, to: priority, status: t.status } },
      ]));
    },

    streamJob: (req, reply) => {
      const id = params<'jobId'>(req).jobId;
      const t = ctx.tasks.find(id); // an archived task streams its final state and ends
      // Admins see every job's stream, users their own (another user's task is "not found").
      if (!t || !canSee(actorOf(req), t.user_id)) throw notFound('Task');
      const hub = hubOf(ctx);
      const last = parseLastEventId(req.headers['last-event-id']);
      const missed = last === undefined ? undefined : hub.ring.since(last)?.filter((e) => e.task_id === id && e.event === 'task');
      const sse = openSse(req, reply);
      let ended = false;
      const deliver = (e: RingEvent) => {
        if (ended) return;
        sse.send(e);
        const status = (JSON.parse(e.data) as Task).status;
        if (isFinalStatus(status)) {
          ended = true;
          sse.close();
        }
      };
      // The current state first (or what was missed since Last-Event-ID), then changes; ends after the final state.
      if (missed && missed.length) for (const e of missed) deliver(e);
      else if (!missed) deliver({ id: hub.ring.lastId, event: 'task', data: JSON.stringify(ctx.tasks.present(t)) });
      if (!ended) {
        const cur = ctx.store.get('tasks', id);
        if (cur && isFinalStatus(cur.status) && !(missed && missed.length && cur.updated_at === (JSON.parse(missed[missed.length - 1]!.data) as Task).updated_at)) {
          deliver({ id: hub.ring.lastId, event: 'task', data: JSON.stringify(ctx.tasks.present(cur)) });
        }
      }
      if (!ended) sse.onClose(hub.subscribe((e) => e.task_id === id && e.event === 'task' && deliver(e)));
      return reply;
    },
  };
}

/**
 * Scheduler endpoints, answering in the spec's shapes from the store. The scheduler issue (engineer
 * D) replaces their behaviour; keep them in this one file.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Reservation, Task, Worker } from '../../../shared/api-types.js';
import { isFinalStatus } from '../../../shared/api-types.js';
import { conflict, notFound } from '../../../shared/errors.js';
import { iso, MINUTE } from '../../../shared/time.js';
import { commitAndAnnounce } from '../../services/actor.js';
import { schedulerStatus } from '../../services/stats.js';
import type { StoredWorker } from '../../store/types.js';
import { body, params, userOf, type ApiDeps, type Handlers } from './types.js';

/** Opens an SSE response; returns a writer and a way to register cleanup. */
function openSse(req: FastifyRequest, reply: FastifyReply) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
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
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  cleanups.push(() => clearInterval(keepAlive));
  return {
    send: (event: string, data: unknown) => {
      if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    onClose: (fn: () => void) => cleanups.push(fn),
    close,
  };
}

export function schedulerRoutes({ ctx }: ApiDeps): Handlers {
  const worker = (id: string): StoredWorker => {
    const w = ctx.store.get('workers', id);
    if (!w) throw notFound('Worker');
    return w;
  };
  const publicWorker = (w: StoredWorker): Worker => {
    const { draining_reason: _r, ...rest } = w;
    return rest;
  };
  const status = () => schedulerStatus(ctx.store, ctx.clock.now());

  return {
    getSchedulerStatus: () => status(),
    streamSchedulerStatus: (req, reply) => {
      const sse = openSse(req, reply);
      sse.send('status', status());
      const onTask = (t: Task) => {
        sse.send('task', t);
        sse.send('status', status());
      };
      const onWorker = (w: Worker) => {
        sse.send('worker', w);
        sse.send('status', status());
      };
      ctx.events.on('task', onTask);
      ctx.events.on('worker', onWorker);
      sse.onClose(() => {
        ctx.events.off('task', onTask);
        ctx.events.off('worker', onWorker);
      });
      return reply;
    },
    listWorkers: () => [...ctx.store.values('workers')].map(publicWorker),
    getWorker: (req) => publicWorker(worker(params<'workerId'>(req).workerId)),
    drainWorker: async (req, reply) => {
      const w = worker(params<'workerId'>(req).workerId);
      const next: StoredWorker = { ...w, status: w.status === 'offline' ? 'offline' : 'draining', draining_reason: 'admin' };
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'workers', value: next }], [
        { event_type: 'scheduler_drain', user_id: userOf(req), resource: `worker:${w.id}`, action: 'drain', success: true },
      ]);
      ctx.events.emit('worker', publicWorker(next));
      return reply.code(204).send();
    },
    undrainWorker: async (req) => {
      const w = worker(params<'workerId'>(req).workerId);
      const { draining_reason: _r, drain_deadline: _d, ...rest } = w;
      const next: StoredWorker = { ...rest, status: w.status === 'draining' ? 'active' : w.status };
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'workers', value: next }], [
        { event_type: 'scheduler_undrain', user_id: userOf(req), resource: `worker:${w.id}`, action: 'undrain', success: true },
      ]);
      ctx.events.emit('worker', publicWorker(next));
      return publicWorker(next);
    },
    listReservations: () => [...ctx.store.values('reservations')].filter((r) => r.status === 'active'),
    createReservation: async (req, reply) => {
      const b = body<{ gpu_count: number; gpu_type?: string; node_count: number; expires_minutes: number; user_id?: string }>(req);
      const now = ctx.clock.now();
      const r: Reservation = {
        id: randomUUID(),
        user_id: b.user_id ?? userOf(req),
        gpu_count: b.gpu_count,
        node_count: b.node_count,
        expires_at: iso(now + b.expires_minutes * MINUTE),
        status: 'active',
        created_at: iso(now),
        ...(b.gpu_type !== undefined ? { gpu_type: b.gpu_type } : {}),
      };
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'reservations', value: r }], [
        { event_type: 'reservation_created', user_id: userOf(req), resource: `reservation:${r.id}`, action: 'create', success: true, metadata: { for_user: r.user_id } },
      ]);
      return reply.code(201).send(r);
    },
    cancelReservation: async (req, reply) => {
      const r = ctx.store.get('reservations', params<'reservationId'>(req).reservationId);
      if (!r) throw notFound('Reservation');
      if (r.status === 'active') await ctx.store.commit([{ op: 'put', coll: 'reservations', value: { ...r, status: 'cancelled' } }]);
      return reply.code(204).send();
    },
    updateJobPriority: async (req) => {
      const id = params<'jobId'>(req).jobId;
      const t = ctx.store.get('tasks', id);
      if (!t) throw notFound('Task');
      if (isFinalStatus(t.status)) throw conflict(`Task already ${t.status}`);
      const priority = body<{ priority: number }>(req).priority;
      return ctx.tasks.transition(id, { priority }, [
        { event_type: 'job_priority_changed', user_id: userOf(req), resource: `task:${id}`, action: 'priority', success: true, metadata: { from: t.priority, to: priority } },
      ]);
    },
    streamJob: (req, reply) => {
      const id = params<'jobId'>(req).jobId;
      const t = ctx.store.get('tasks', id);
      if (!t) throw notFound('Task');
      const sse = openSse(req, reply);
      sse.send('task', t);
      if (isFinalStatus(t.status)) {
        sse.close();
        return reply;
      }
      const onTask = (u: Task) => {
        if (u.id !== id) return;
        sse.send('task', u);
        if (isFinalStatus(u.status)) sse.close();
      };
      ctx.events.on('task', onTask);
      sse.onClose(() => ctx.events.off('task', onTask));
      return reply;
    },
  };
}

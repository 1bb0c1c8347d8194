import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { plan } from '../../../control/scheduler/plan.js';
import type { PlanResult, SchedReservation, SchedTask, SchedWorker } from '../../../control/scheduler/types.js';

// One GPU model per worker (real hosts are homogeneous) and types that match disjoint models, so
// "does it fit" below is exact with per-type counts.
const MODELS = ['NVIDIA H100 80GB HBM3', 'NVIDIA A100-SXM4-40GB', 'Tesla T4'] as const;
const TYPES = [undefined, undefined, 'H100', 'A100', 'B200'] as const;
const USERS = ['u1', 'u2'] as const;
const NOW = 10_000_000;

const workerArb = (i: number) =>
  fc
    .record({
      status: fc.constantFrom('active', 'active', 'active', 'draining', 'offline'),
      model: fc.constantFrom(...MODELS),
      gpus: fc.array(fc.record({ healthy: fc.integer({ min: 0, max: 9 }).map((x) => x > 0), free: fc.boolean() }), { maxLength: 8 }),
      cpuTotal: fc.integer({ min: 0, max: 32 }),
      cpuUsed: fc.integer({ min: 0, max: 32 }),
      memTotal: fc.integer({ min: 0, max: 256 }),
      memUsed: fc.integer({ min: 0, max: 256 }),
      batchTotal: fc.integer({ min: 0, max: 4 }),
      batchUsed: fc.integer({ min: 0, max: 4 }),
      serviceTotal: fc.integer({ min: 0, max: 2 }),
    })
    .map((w): SchedWorker => ({
      id: `w${i}`,
      status: w.status as SchedWorker['status'],
      gpus: w.gpus.map((g, index) => ({ index, name: w.model, healthy: g.healthy, free: g.free })),
      cpu_total: w.cpuTotal,
      cpu_free: Math.max(0, w.cpuTotal - w.cpuUsed),
      memory_total_gb: w.memTotal,
      memory_free_gb: Math.max(0, w.memTotal - w.memUsed),
      batch_total: w.batchTotal,
      batch_free: Math.max(0, w.batchTotal - w.batchUsed),
      service_total: w.serviceTotal,
      service_free: w.serviceTotal,
    }));

const taskArb = fc.record({
  priority: fc.integer({ min: 1, max: 10 }),
  ageMin: fc.integer({ min: -30, max: 200 }), // negative: queued "in the future" (clock stepped back)
  gpu: fc.constantFrom(0, 0, 1, 1, 2, 4),
  gpu_type: fc.constantFrom(...TYPES),
  cpu: fc.constantFrom(undefined, 0, 1, 4, 16),
  memory_gb: fc.constantFrom(undefined, 8, 64),
  node_count: fc.constantFrom(1, 1, 1, 2, 3),
  slot_kind: fc.constantFrom('batch', 'batch', 'service'),
  user: fc.constantFrom(...USERS),
  res: fc.constantFrom(undefined, undefined, undefined, 'r0', 'r1'),
});

const resArb = (i: number) =>
  fc.record({
    user: fc.constantFrom(...USERS),
    gpu_count: fc.integer({ min: 1, max: 4 }),
    gpu_type: fc.constantFrom(...TYPES),
    node_count: fc.integer({ min: 1, max: 2 }),
    expiresIn: fc.integer({ min: -5, max: 60 }),
  }).map((r): SchedReservation => {
    const s: SchedReservation = { id: `r${i}`, user_id: r.user, gpu_count: r.gpu_count, node_count: r.node_count, expires_at: NOW + r.expiresIn * 60_000, status: 'active' };
    if (r.gpu_type) s.gpu_type = r.gpu_type;
    return s;
  });

const scenarioArb = fc
  .record({ nw: fc.integer({ min: 0, max: 7 }), tasks: fc.array(taskArb, { maxLength: 25 }), nr: fc.integer({ min: 0, max: 2 }) })
  .chain(({ nw, tasks, nr }) =>
    fc.record({
      workers: fc.tuple(...Array.from({ length: nw }, (_, i) => workerArb(i))),
      reservations: fc.tuple(...Array.from({ length: nr }, (_, i) => resArb(i))),
      queue: fc.constant(
        tasks.map((t, i): SchedTask => {
          const s: SchedTask = { id: `t${i}`, user_id: t.user, priority: t.priority, queued_at: NOW - t.ageMin * 60_000, created_seq: i, gpu: t.gpu, node_count: t.node_count, slot_kind: t.slot_kind as SchedTask['slot_kind'] };
          if (t.gpu_type) s.gpu_type = t.gpu_type;
          if (t.cpu !== undefined) s.cpu = t.cpu;
          if (t.memory_gb !== undefined) s.memory_gb = t.memory_gb;
          if (t.res) s.reservation_id = t.res;
          return s;
        }),
      ),
    }),
  );

/** Per-worker free capacity with GPUs counted per model, to apply demands and check fits. */
interface Cap { active: boolean; cpu: number; mem: number; slots: { batch: number; service: number }; byModel: Map<string, number>; total: number }
function capacities(workers: SchedWorker[]): Map<string, Cap> {
  const m = new Map<string, Cap>();
  for (const w of workers) {
    const byModel = new Map<string, number>();
    let total = 0;
    for (const g of w.gpus) if (g.healthy && g.free) { byModel.set(g.name, (byModel.get(g.name) ?? 0) + 1); total++; }
    m.set(w.id, { active: w.status === 'active', cpu: w.cpu_free, mem: w.memory_free_gb, slots: { batch: w.batch_free, service: w.service_free }, byModel, total });
  }
  return m;
}
const modelFor = (type: string | undefined) => (type === 'H100' ? MODELS[0] : type === 'A100' ? MODELS[1] : type === 'B200' ? 'none' : undefined);
function gpusFit(c: Cap, k: number, type: string | undefined): boolean {
  if (k === 0) return true;
  const model = modelFor(type);
  return c.total >= k && (model === undefined || (c.byModel.get(model) ?? 0) >= k);
}
function applyGpus(c: Cap, k: number, type: string | undefined, sign: 1 | -1) {
  c.total -= sign * k;
  // Workers have one model, so typed and untyped demands draw from the same pool.
  const [name] = [...c.byModel.keys()];
  if (name !== undefined) c.byModel.set(name, c.byModel.get(name)! - sign * k);
  void type;
}
function nodeFits(c: Cap, t: SchedTask): boolean {
  return c.active && c.slots[t.slot_kind] >= 1 && c.cpu >= (t.cpu ?? 0) && c.mem >= (t.memory_gb ?? 0) && gpusFit(c, t.gpu, t.gpu_type);
}
function apply(c: Cap, t: SchedTask, gpus: number, sign: 1 | -1) {
  c.slots[t.slot_kind] -= sign;
  c.cpu -= sign * (t.cpu ?? 0);
  c.mem -= sign * (t.memory_gb ?? 0);
  applyGpus(c, gpus, t.gpu_type, sign);
}

function finalState(workers: SchedWorker[], queue: SchedTask[], r: PlanResult, exceptHoldsFor?: { task: string; reservation?: string }): Map<string, Cap> {
  const caps = capacities(workers);
  const byId = new Map(queue.map((t) => [t.id, t]));
  for (const s of r.starts) for (const n of s.nodes) apply(caps.get(n.worker_id)!, byId.get(s.task_id)!, n.gpus, 1);
  for (const h of r.holds) {
    if (exceptHoldsFor && (h.for_task === exceptHoldsFor.task || (h.for_reservation && h.for_reservation === exceptHoldsFor.reservation))) continue;
    const c = caps.get(h.worker_id)!;
    c.cpu -= h.cpu;
    c.mem -= h.memory_gb;
    if (h.slot) c.slots[h.slot]--;
    applyGpus(c, h.gpus, undefined, 1);
  }
  return caps;
}

describe('planner properties (generated clusters and queues)', () => {
  test('never over-allocates; gangs are whole, on distinct active workers; reservations only by owner with the id', () => {
    fc.assert(
      fc.property(scenarioArb, ({ workers, queue, reservations }) => {
        const r = plan({ now: NOW, queue, workers, reservations });
        const byId = new Map(queue.map((t) => [t.id, t]));
        for (const s of r.starts) {
          const t = byId.get(s.task_id)!;
          assert.equal(s.nodes.length, t.node_count);
          assert.equal(new Set(s.nodes.map((n) => n.worker_id)).size, t.node_count, 'distinct workers');
          assert.deepEqual(s.nodes.map((n) => n.rank), [...Array(t.node_count).keys()]);
          for (const n of s.nodes) assert.equal(n.gpus, t.gpu);
          if (s.reservation_id !== undefined) {
            const res = reservations.find((x) => x.id === s.reservation_id)!;
            assert.equal(t.reservation_id, res.id);
            assert.equal(t.user_id, res.user_id);
            assert.ok(NOW < res.expires_at);
          }
        }
        assert.equal(new Set(r.starts.map((s) => s.task_id)).size, r.starts.length, 'a task starts once');
        const claims = r.reservations.filter((d) => d.status === 'claimed');
        assert.equal(new Set(claims.map((d) => d.id)).size, claims.length, 'claimed once');
        for (const d of claims) assert.ok(r.starts.some((s) => s.task_id === d.task_id && s.reservation_id === d.id));
        // Starts plus every hold fit in free capacity: nobody else used reserved or held capacity.
        for (const [id, c] of finalState(workers, queue, r)) {
          if (!c.active) assert.ok(!r.starts.some((s) => s.nodes.some((n) => n.worker_id === id)), 'inactive worker used');
          assert.ok(c.cpu >= 0 && c.mem >= 0 && c.slots.batch >= 0 && c.slots.service >= 0 && c.total >= 0, `over-allocated ${id}`);
          for (const v of c.byModel.values()) assert.ok(v >= 0, `GPU model over-allocated on ${id}`);
        }
        // Every queued task is either started or pending, never both.
        for (const t of queue) assert.notEqual(r.starts.some((s) => s.task_id === t.id), r.pending.has(t.id), t.id);
      }),
      { numRuns: 3000 },
    );
  });

  test('no task waits behind a lower effective priority task that took capacity it could have used', () => {
    fc.assert(
      fc.property(scenarioArb, ({ workers, queue, reservations }) => {
        const r = plan({ now: NOW, queue, workers, reservations });
        const byId = new Map(queue.map((t) => [t.id, t]));
        const prio = (id: string) => r.pending.get(id)?.priority_aged.effective ?? r.starts.find((s) => s.task_id === id)!.priority_aged.effective;
        for (const [hid, hp] of r.pending) {
          const h = byId.get(hid)!;
          const hasOwnRes = reservations.some((x) => x.id === h.reservation_id && x.user_id === h.user_id);
          for (const l of r.starts) {
            const lt = byId.get(l.task_id)!;
            const lower = prio(l.task_id) < hp.priority_aged.effective || (prio(l.task_id) === hp.priority_aged.effective && lt.created_seq > h.created_seq);
            // A claiming task runs on its reservation's held GPUs, which H could never use.
            if (!lower || l.reservation_id !== undefined) continue;
            const caps = finalState(workers, queue, r, { task: hid, ...(hasOwnRes ? { reservation: h.reservation_id! } : {}) });
            const fitsBefore = [...caps.values()].filter((c) => nodeFits(c, h)).length >= h.node_count;
            for (const n of l.nodes) apply(caps.get(n.worker_id)!, lt, n.gpus, -1);
            const fitsWithL = [...caps.values()].filter((c) => nodeFits(c, h)).length >= h.node_count;
            assert.ok(fitsBefore || !fitsWithL, `${hid} (${hp.priority_aged.effective}) could have run on what ${l.task_id} (${prio(l.task_id)}) took`);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('no starvation of the head gang', () => {
  test('a 2-node gang at the head starts within a bounded number of passes while 1-GPU tasks keep arriving', () => {
    const MAX_RUN = 4; // passes a task runs for
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.array(fc.array(fc.record({ prio: fc.integer({ min: 1, max: 5 }), runFor: fc.integer({ min: 1, max: MAX_RUN }) }), { minLength: 1, maxLength: 6 }), { minLength: 30, maxLength: 30 }),
        (nw, arrivals) => {
          const GPUS = 4;
          // running: worker → list of {task, gpus, endsAt}
          const running = new Map<string, { gpus: number; endsAt: number }[]>();
          for (let i = 0; i < nw; i++) running.set(`w${i}`, [{ gpus: 1, endsAt: 1 + (i % MAX_RUN) }]);
          let seq = 0;
          let queue: SchedTask[] = [{ id: 'gang', user_id: 'u', priority: 5, queued_at: 0, created_seq: seq++, gpu: GPUS, node_count: 2, slot_kind: 'batch' }];
          const runFor = new Map<string, number>();
          for (let pass = 0; pass < arrivals.length; pass++) {
            for (const [, list] of running) for (let i = list.length - 1; i >= 0; i--) if (list[i]!.endsAt <= pass) list.splice(i, 1);
            for (const a of arrivals[pass]!) {
              const id = `t${seq}`;
              runFor.set(id, a.runFor);
              queue.push({ id, user_id: 'u', priority: a.prio, queued_at: pass * 60_000, created_seq: seq++, gpu: 1, node_count: 1, slot_kind: 'batch' });
            }
            const workers: SchedWorker[] = [...running].map(([id, list]) => {
              const used = list.reduce((s, x) => s + x.gpus, 0);
              return { id, status: 'active', gpus: Array.from({ length: GPUS }, (_, index) => ({ index, name: 'NVIDIA H100', healthy: true, free: index >= used })), cpu_total: 8, cpu_free: 8, memory_total_gb: 64, memory_free_gb: 64, batch_total: 8, batch_free: 8 - list.length, service_total: 0, service_free: 0 };
            });
            const r = plan({ now: pass * 60_000, queue, workers });
            for (const s of r.starts) for (const n of s.nodes) running.get(n.worker_id)!.push({ gpus: n.gpus, endsAt: pass + (runFor.get(s.task_id) ?? 1) });
            if (r.starts.some((s) => s.task_id === 'gang')) {
              assert.ok(pass <= MAX_RUN + 1, `gang started only at pass ${pass}`);
              return;
            }
            assert.equal(r.head?.task_id, 'gang');
            const started = new Set(r.starts.map((s) => s.task_id));
            queue = queue.filter((t) => !started.has(t.id));
          }
          assert.fail('gang never started');
        },
      ),
      { numRuns: 300 },
    );
  });
});

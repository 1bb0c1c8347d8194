import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseAssignments, MULTI_NODE_PENDING, type DispatchWorker } from '../../../control/agents/dispatch.js';
import type { GpuInfo, Task } from '../../../shared/api-types.js';

let n = 0;
const task = (p: Partial<Task> = {}): Task => {
  n++;
  const at = new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString();
  return { id: `t${n}`, job_name: 'j', status: 'queued', priority: 0, created_at: at, queued_at: at, updated_at: at, user_id: 'u', retry_count: 0, max_retries: 3, node_count: 1, slot_kind: 'batch', epoch: 0, ...p };
};
const gpus = (k: number, name = 'NVIDIA A100'): GpuInfo[] => Array.from({ length: k }, (_, i) => ({ index: i, uuid: `G${i}`, name, memory_total_mb: 1, healthy: true }));
const worker = (id: string, p: Partial<DispatchWorker> = {}): DispatchWorker => ({ id, gpus: [], gpu_used: 0, batch_free: 1, service_free: 2, cpu_free: 8, memory_free_gb: 32, ...p });

test('priority first, then FIFO', () => {
  const a = task();
  const b = task({ priority: 5 });
  const c = task();
  const r = chooseAssignments([a, b, c], [worker('w', { batch_free: 2 })]);
  assert.deepEqual(r.assignments.map((x) => x.task_id), [b.id, a.id]);
});

test('first fit by GPUs, type, CPU and memory', () => {
  const big = task({ gpu: 2 });
  const h100 = task({ gpu: 1, gpu_type: 'H100' });
  const cpuHeavy = task({ cpu: 16 });
  const r = chooseAssignments([big, h100, cpuHeavy], [worker('one', { gpus: gpus(1), batch_free: 4 }), worker('two', { gpus: gpus(2), batch_free: 4 }), worker('h', { gpus: gpus(1, 'NVIDIA H100 80GB'), batch_free: 4 })]);
  assert.deepEqual(r.assignments, [{ task_id: big.id, worker_id: 'two' }, { task_id: h100.id, worker_id: 'h' }]);
});

test('multi-node tasks stay queued with a pending reason; unhealthy GPUs do not count', () => {
  const gang = task({ node_count: 2 });
  const g = task({ gpu: 1 });
  const r = chooseAssignments([gang, g], [worker('w', { gpus: [{ ...gpus(1)[0]!, healthy: false }] })]);
  assert.deepEqual(r.pending, [{ task_id: gang.id, reason: MULTI_NODE_PENDING }]);
  assert.deepEqual(r.assignments, []);
});

test('property: never over-commits a worker', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ gpu: fc.integer({ min: 0, max: 3 }), cpu: fc.integer({ min: 0, max: 4 }), service: fc.boolean(), priority: fc.integer({ min: -2, max: 2 }) }), { maxLength: 40 }),
      fc.array(fc.record({ g: fc.integer({ min: 0, max: 4 }), used: fc.integer({ min: 0, max: 2 }), b: fc.integer({ min: 0, max: 3 }), s: fc.integer({ min: 0, max: 2 }), cpu: fc.integer({ min: 0, max: 8 }) }), { maxLength: 5 }),
      (ts, ws) => {
        const tasks = ts.map((t) => task({ gpu: t.gpu, cpu: t.cpu, priority: t.priority, slot_kind: t.service ? 'service' : 'batch' }));
        const workers = ws.map((w, i) => worker(`w${i}`, { gpus: gpus(w.g), gpu_used: Math.min(w.used, w.g), batch_free: w.b, service_free: w.s, cpu_free: w.cpu }));
        const r = chooseAssignments(tasks, workers);
        assert.equal(new Set(r.assignments.map((a) => a.task_id)).size, r.assignments.length);
        for (const w of workers) {
          const mine = r.assignments.filter((a) => a.worker_id === w.id).map((a) => tasks.find((t) => t.id === a.task_id)!);
          assert.ok(mine.reduce((s, t) => s + (t.gpu ?? 0), 0) <= w.gpus.length - w.gpu_used);
          assert.ok(mine.filter((t) => t.slot_kind === 'batch').length <= w.batch_free);
          assert.ok(mine.filter((t) => t.slot_kind === 'service').length <= w.service_free);
          assert.ok(mine.reduce((s, t) => s + (t.cpu ?? 0), 0) <= w.cpu_free);
        }
      },
    ),
  );
});

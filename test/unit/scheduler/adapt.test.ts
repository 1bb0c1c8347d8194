import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPlanInput } from '../../../control/scheduler/adapt.js';
import { plan } from '../../../control/scheduler/plan.js';
import type { Task, Worker } from '../../../shared/api-types.js';

const base = { job_name: 'j', user_id: 'alice', retry_count: 0, max_retries: 3, node_count: 1, slot_kind: 'batch', epoch: 0, updated_at: '2025-01-01T00:00:00Z' } as const;
const task = (id: string, over: Partial<Task>): Task => ({ ...base, id, status: 'queued', priority: 5, created_at: '2025-01-01T00:00:00Z', queued_at: '2025-01-01T00:00:00Z', ...over });
const gpu = (index: number, healthy = true) => ({ index, uuid: `GPU-${index}`, name: 'NVIDIA H100 80GB HBM3', memory_total_mb: 81559, healthy });
const w: Worker = {
  id: 'w1', status: 'active', active_tasks: ['run'],
  capabilities: { gpu_count: 4, cpu_cores: 16, memory_gb: 128, gpus: [gpu(0), gpu(1), gpu(2), gpu(3, false)] },
  slots: { batch_available: 4, batch_total: 4, service_available: 1, service_total: 1 },
};

test('running allocations are subtracted from the worker; only queued tasks are planned, FIFO by created_at', () => {
  const tasks = [
    task('run', { status: 'running', gpu: 2, cpu: 8, memory_gb: 64, worker_id: 'w1' }),
    task('late', { gpu: 1, created_at: '2025-01-01T00:00:02Z' }),
    task('early', { gpu: 1, created_at: '2025-01-01T00:00:01Z' }),
    task('done', { status: 'completed', gpu: 4 }),
  ];
  const input = buildPlanInput({ tasks, workers: [w], now: Date.parse('2025-01-01T00:10:00Z') });
  assert.deepEqual(input.queue.map((t) => [t.id, t.created_seq]), [['early', 0], ['late', 1]]);
  const sw = input.workers[0]!;
  assert.equal(sw.gpus.filter((g) => g.free && g.healthy).length, 1, '3 healthy, 2 busy');
  assert.equal(sw.cpu_free, 8);
  assert.equal(sw.memory_free_gb, 64);
  assert.equal(sw.batch_free, 3, 'slot report still says 4; the running task counts');
  const r = plan(input);
  assert.deepEqual(r.starts.map((s) => s.task_id), ['early']);
  assert.equal(r.pending.get('late')?.priority_aged.age_bonus, 1);
});

test('unreadable dates do not crash: a bad expires_at expires the reservation', () => {
  const input = buildPlanInput({
    tasks: [task('x', { queued_at: 'garbage', created_at: 'also garbage' })],
    workers: [w],
    reservations: [{ id: 'r', user_id: 'alice', gpu_count: 1, node_count: 1, expires_at: 'never', status: 'active' }],
    now: 0,
  });
  assert.deepEqual(plan(input).reservations, [{ id: 'r', status: 'expired' }]);
});

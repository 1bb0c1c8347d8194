import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { plan, NOT_EXAMINED } from '../../../control/scheduler/plan.js';
import { checkReservationFeasible } from '../../../control/scheduler/reservations.js';
import type { SchedReservation, SchedTask, SchedWorker } from '../../../control/scheduler/types.js';

const MIN = 60_000;
let seq = 0;
const task = (id: string, over: Partial<SchedTask> = {}): SchedTask => ({ id, user_id: 'alice', priority: 5, queued_at: 0, created_seq: seq++, gpu: 1, node_count: 1, slot_kind: 'batch', ...over });
const worker = (id: string, gpus: number, freeGpus = gpus, over: Partial<SchedWorker> = {}, model = 'NVIDIA H100 80GB HBM3'): SchedWorker => ({
  id, status: 'active',
  gpus: Array.from({ length: gpus }, (_, index) => ({ index, name: model, healthy: true, free: index < freeGpus })),
  cpu_total: 32, cpu_free: 32, memory_total_gb: 256, memory_free_gb: 256, batch_total: 8, batch_free: 8, service_total: 1, service_free: 1, ...over,
});
const res = (over: Partial<SchedReservation> = {}): SchedReservation => ({ id: 'r1', user_id: 'alice', gpu_count: 4, node_count: 1, expires_at: 60 * MIN, status: 'active', ...over });

describe('pending reasons', () => {
  test('no active workers', () => {
    const r = plan({ now: 0, queue: [task('a')], workers: [worker('w', 4, 4, { status: 'draining' })] });
    assert.equal(r.pending.get('a')?.reason, 'no active workers');
  });
  test('no worker has gpu_type X', () => {
    const r = plan({ now: 0, queue: [task('a', { gpu_type: 'B200' })], workers: [worker('w', 4)] });
    assert.equal(r.pending.get('a')?.reason, 'no worker has gpu_type B200');
  });
  test('a gang that fits on too few workers now says how many fit', () => {
    const r = plan({ now: 0, queue: [task('g', { gpu: 4, gpu_type: 'H100', node_count: 2 })], workers: [worker('w1', 4), worker('w2', 4, 2)] });
    assert.equal(r.pending.get('g')?.reason, 'needs 2 nodes with 4 free H100; 1 fits now');
    assert.equal(r.head?.task_id, 'g');
  });
  test('never fits: says how many workers have that much at all', () => {
    const r = plan({ now: 0, queue: [task('a', { gpu: 8 })], workers: [worker('w1', 4)] });
    assert.equal(r.pending.get('a')?.reason, 'needs 1 node with 8 free GPUs; only 0 active workers have that much in total');
    assert.equal(r.head, undefined, 'an impossible task never blocks others');
  });
  test('behind the head task, with its effective priority', () => {
    // Head wants both GPUs of w1 (one busy); the lower task would fit on w1's free GPU but that is held.
    const r = plan({ now: 0, queue: [task('head', { gpu: 2, priority: 9 }), task('low', { gpu: 1, priority: 3 })], workers: [worker('w1', 2, 1)] });
    assert.deepEqual(r.starts, []);
    assert.equal(r.pending.get('low')?.reason, 'behind task head (priority 9.0)');
    assert.deepEqual(r.holds, [{ worker_id: 'w1', for_task: 'head', gpus: 1, cpu: 0, memory_gb: 0, slot: 'batch' }]);
  });
  test('reserved capacity', () => {
    const r = plan({ now: 0, queue: [task('other', { user_id: 'bob' })], workers: [worker('w1', 4)], reservations: [res()] });
    assert.equal(r.pending.get('other')?.reason, 'reserved capacity');
  });
  test('past the detailed-reason budget: queued with N tasks ahead', () => {
    const queue = [task('big', { gpu: 9 }), ...Array.from({ length: 5 }, (_, i) => task(`t${i}`, { gpu: 9, cpu: i }))];
    const r = plan({ now: 0, queue, workers: [worker('w', 4)], config: { detailedReasons: 2 } });
    assert.equal(r.pending.get('t3')?.reason, 'queued: 4 tasks ahead');
    assert.match(r.pending.get('big')!.reason, /^needs 1 node with 9 free GPUs/);
  });
  test('priority breakdown is returned', () => {
    const r = plan({ now: 20 * MIN, queue: [task('a', { gpu: 9, priority: 7 })], workers: [worker('w', 4)] });
    assert.deepEqual(r.pending.get('a')?.priority_aged, { base: 7, age_bonus: 2, effective: 9 });
  });
});

describe('priority and aging (fake clock)', () => {
  const two = () => [task('old', { priority: 4, queued_at: 0 }), task('new', { priority: 5, queued_at: 40 * MIN })];
  test('aging lets an older lower-priority task overtake, capped', () => {
    const at = (now: number) => plan({ now, queue: two(), workers: [worker('w', 1)] });
    assert.equal(at(40 * MIN).starts[0]!.task_id, 'old', '4 + 4.0 beats 5 + 0');
    assert.equal(at(5 * MIN).starts[0]!.task_id, 'new', '4 + 0.5 loses to 5 (new is "queued in the future": age 0)');
    const capped = plan({ now: 1000 * MIN, queue: [task('x', { gpu: 9, priority: 3 })], workers: [], config: { agingCap: 5 } });
    assert.deepEqual(capped.pending.get('x')?.priority_aged, { base: 3, age_bonus: 5, effective: 8 });
  });
  test('a clock stepping backwards gives age 0, never a negative bonus, and does not crash', () => {
    for (const now of [-5 * MIN, 0, Number.NaN, -Infinity]) {
      const r = plan({ now, queue: [task('a', { gpu: 9, queued_at: 10 * MIN })], workers: [worker('w', 1)] });
      assert.deepEqual(r.pending.get('a')?.priority_aged, { base: 5, age_bonus: 0, effective: 5 });
    }
  });
  test('FIFO within equal effective priority; 10 is the most urgent', () => {
    const r = plan({ now: 0, queue: [task('b', { created_seq: 2 }), task('a', { created_seq: 1 }), task('u', { priority: 10, created_seq: 3 })], workers: [worker('w', 2)] });
    assert.deepEqual(r.starts.map((s) => s.task_id), ['u', 'a']);
    assert.equal(r.pending.get('b')?.position, 0);
  });
});

describe('reservations', () => {
  test('held for the owner naming it; others plan around; claimed when used', () => {
    const queue = [task('bob', { user_id: 'bob', priority: 10, gpu: 2 }), task('mine-no-id', { priority: 9 }), task('claimer', { reservation_id: 'r1', gpu: 4, priority: 1 })];
    const r = plan({ now: 0, queue, workers: [worker('w1', 4), worker('w2', 2, 0)], reservations: [res()] });
    assert.deepEqual(r.starts.map((s) => [s.task_id, s.reservation_id]), [['claimer', 'r1']]);
    assert.deepEqual(r.reservations, [{ id: 'r1', status: 'claimed', task_id: 'claimer' }]);
  });
  test('a blocked head never holds the slot its reserved worker keeps for the owner', () => {
    // w1's GPU is busy, w2's is reserved for bob; alice's earlier task is the head but must not take w2's only slot.
    const one = { batch_total: 1, batch_free: 1 };
    const workers = [worker('w1', 1, 0, { batch_free: 0, batch_total: 1 }), worker('w2', 1, 1, one)];
    const queue = [task('alice-waits'), task('bob-claims', { user_id: 'bob', reservation_id: 'r1' })];
    const r = plan({ now: 0, queue, workers, reservations: [res({ user_id: 'bob', gpu_count: 1 })] });
    assert.deepEqual(r.starts.map((s) => [s.task_id, s.nodes[0]?.worker_id]), [['bob-claims', 'w2']]);
    assert.equal(r.pending.get('alice-waits')?.reason !== undefined, true);
  });
  test('someone else naming the reservation cannot use it', () => {
    const r = plan({ now: 0, queue: [task('thief', { user_id: 'bob', reservation_id: 'r1' })], workers: [worker('w1', 4)], reservations: [res()] });
    assert.deepEqual(r.starts, []);
  });
  test('expires when now ≥ expires_at and frees the capacity', () => {
    const q = [task('bob', { user_id: 'bob' })];
    assert.deepEqual(plan({ now: 60 * MIN - 1, queue: q, workers: [worker('w1', 4)], reservations: [res()] }).starts, []);
    const r = plan({ now: 60 * MIN, queue: q, workers: [worker('w1', 4)], reservations: [res()] });
    assert.deepEqual(r.reservations, [{ id: 'r1', status: 'expired' }]);
    assert.equal(r.starts[0]?.task_id, 'bob');
  });
  test('checkReservationFeasible refuses impossible ones with a reason', () => {
    const ws = [worker('w1', 4), worker('w2', 8, 8, {}, 'NVIDIA A100-SXM4-80GB')];
    assert.deepEqual(checkReservationFeasible({ gpu_count: 4, gpu_type: 'H100', node_count: 1 }, ws), { ok: true });
    assert.deepEqual(checkReservationFeasible({ gpu_count: 4, gpu_type: 'B200' }, ws), { ok: false, reason: 'no worker has gpu_type B200' });
    const two = checkReservationFeasible({ gpu_count: 8, node_count: 2 }, ws);
    assert.equal(two.ok, false);
    assert.match((two as { reason: string }).reason, /needs 2 workers with 8 healthy GPUs; 1 active worker has/);
    assert.equal(checkReservationFeasible({ gpu_count: 0 }, ws).ok, false);
    assert.equal(checkReservationFeasible({ gpu_count: 1 }, []).ok, false);
  });
});

describe('fit details', () => {
  test('unhealthy GPUs, draining workers and full slots are never used; service slots apart', () => {
    const sick = worker('sick', 2);
    sick.gpus[0]!.healthy = false;
    const r = plan({
      now: 0,
      queue: [task('two', { gpu: 2 }), task('svc', { gpu: 0, slot_kind: 'service' }), task('svc2', { gpu: 0, slot_kind: 'service' })],
      workers: [sick, worker('drain', 4, 4, { status: 'draining' }), worker('full', 4, 4, { batch_free: 0, service_free: 1 })],
    });
    assert.deepEqual(r.pending.get('two')?.reason, 'needs 1 node with 2 free GPUs; 0 fit now');
    assert.ok(!r.starts.some((s) => s.task_id === 'two'));
    assert.equal(r.starts.filter((s) => s.task_id.startsWith('svc')).length, 2);
    assert.ok(!r.starts.some((s) => s.nodes.some((n) => n.worker_id === 'drain')));
  });
  test('garbage in the input never crashes the planner', () => {
    const bad = [{ id: 'x', priority: 'high', gpu: -3, node_count: 0, queued_at: 'yesterday' }, null, { id: 'y', gpu: Number.NaN, node_count: Infinity, slot_kind: 'weird' }] as unknown as SchedTask[];
    const r = plan({ now: 0, queue: bad, workers: [null, { id: 'w', status: 'active' }] as unknown as SchedWorker[], reservations: [{ id: 'r', status: 'active', expires_at: 'soon' }] as unknown as SchedReservation[] });
    assert.equal(r.starts.length + r.pending.size, 2);
    assert.deepEqual(r.reservations, [{ id: 'r', status: 'expired' }]);
    assert.doesNotThrow(() => plan(undefined as never));
  });
  test('a gang gets N distinct workers with ranks 0…N-1, or nothing', () => {
    const r = plan({ now: 0, queue: [task('g', { gpu: 2, node_count: 2 }), task('g3', { gpu: 2, node_count: 3, priority: 1 })], workers: [worker('w1', 2), worker('w2', 4), worker('w3', 1)] });
    assert.deepEqual(r.starts.map((s) => s.nodes), [[{ rank: 0, worker_id: 'w1', gpus: 2 }, { rank: 1, worker_id: 'w2', gpus: 2 }]]);
    assert.ok(r.pending.has('g3'));
  });
  test('past the backfill depth, tasks wait unexamined this pass', () => {
    const r = plan({ now: 0, queue: [task('a', { gpu: 1 }), task('b', { gpu: 2 }), task('c', { gpu: 1 })], workers: [worker('w', 8)], config: { maxFitSearches: 1 } });
    assert.deepEqual(r.starts.map((s) => s.task_id), ['a', 'c'], 'c shares a\'s shape, so no new search');
    assert.equal(r.pending.get('b')?.reason, NOT_EXAMINED);
  });
});

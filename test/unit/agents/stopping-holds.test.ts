import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../../../shared/api-types.js';
import type { RunningTaskReport } from '../../../shared/protocol.js';
import { StoppingHolds } from '../../../control/agents/stopping-holds.js';

const task = (id: string, p: Partial<Task> = {}): Task =>
  ({ id, job_name: id, status: 'cancelled', priority: 5, created_at: 'a', queued_at: 'a', updated_at: 'a', user_id: 'u', retry_count: 0, max_retries: 3, node_count: 1, slot_kind: 'batch', epoch: 2, ...p }) as Task;
const running = (id: string, epoch: number, state: RunningTaskReport['state'] = 'running'): RunningTaskReport => ({ task_id: id, epoch, state, gpu_uuids: [] });

test("a held copy's request counts against its worker until the agent reports it final", () => {
  const h = new StoppingHolds();
  assert.equal(h.hold('w1', task('a', { gpu: 2, gpu_type: 'A100', cpu: 4, memory_gb: 16 }), 2), true);
  assert.equal(h.hold('w1', task('b', { slot_kind: 'service' }), 1), true);
  assert.deepEqual(h.allocations('w1'), [
    { worker_id: 'w1', gpu: 2, slot_kind: 'batch', gpu_type: 'A100', cpu: 4, memory_gb: 16 },
    { worker_id: 'w1', gpu: 0, slot_kind: 'service' },
  ]);
  assert.deepEqual(h.slots('w1'), { batch: 1, service: 1 });
  assert.deepEqual(h.allocations('w2'), []);
  // A final frame of an older copy does not release a hold on a newer one.
  assert.equal(h.release('w1', 'a', 1), false);
  assert.equal(h.release('w1', 'a', 2), true);
  assert.equal(h.release('w1', 'a', 2), false, 'released once');
  assert.deepEqual(h.slots('w1'), { batch: 0, service: 1 });
});

test('holding the same copy again changes nothing; a newer epoch replaces it', () => {
  const h = new StoppingHolds();
  assert.equal(h.hold('w', task('a'), 3), true);
  assert.equal(h.hold('w', task('a'), 3), false);
  assert.equal(h.hold('w', task('a'), 2), false);
  assert.equal(h.hold('w', task('a', { gpu: 1 }), 4), true);
  assert.equal(h.allocations('w')[0]?.gpu, 1);
});

test('a heartbeat or hello keeps holds on copies it lists as running and drops the rest', () => {
  const h = new StoppingHolds();
  h.hold('w', task('still'), 2);
  h.hold('w', task('gone'), 2);
  h.hold('w', task('ended'), 2);
  h.hold('w', task('newer'), 2);
  const changed = h.reconcile('w', [running('still', 2, 'collecting'), running('ended', 2, 'cancelled'), running('newer', 5), running('other', 1)]);
  assert.equal(changed, true);
  assert.equal(h.has('w', 'still'), true);
  for (const id of ['gone', 'ended', 'newer']) assert.equal(h.has('w', id), false, id);
  assert.equal(h.reconcile('w', [running('still', 2)]), false, 'nothing more to drop');
  // Garbage in a heartbeat never throws; it counts as "not running".
  assert.equal(h.reconcile('w', [null as unknown as RunningTaskReport, { task_id: 7 } as unknown as RunningTaskReport]), true);
  assert.equal(h.reconcile('w', 'nope' as unknown as RunningTaskReport[]), false);
});

test("a worker's connection going drops its holds (its next hello says what still runs)", () => {
  const h = new StoppingHolds();
  h.hold('w', task('a'), 1);
  assert.equal(h.dropWorker('w'), true);
  assert.equal(h.dropWorker('w'), false);
  assert.deepEqual(h.allocations('w'), []);
});

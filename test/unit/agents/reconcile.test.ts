import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decideStatus, FREE_REFUSALS, lostTaskDecision, retryable, overdueWorkers, reconcileHello, tasksOnWorker } from '../../../control/agents/reconcile.js';
import type { Task } from '../../../shared/api-types.js';
import type { TaskStatusMessage } from '../../../shared/protocol.js';

const NOW = Date.UTC(2025, 5, 1);
const task = (p: Partial<Task>): Task => ({ id: 'x', job_name: 'j', status: 'running', priority: 0, created_at: 'a', queued_at: 'a', updated_at: 'a', user_id: 'u', retry_count: 0, max_retries: 2, node_count: 1, slot_kind: 'batch', epoch: 1, worker_id: 'w', ...p });
const msg = (p: Partial<TaskStatusMessage>): TaskStatusMessage => ({ type: 'task_status', task_id: 'x', epoch: 1, state: 'running', at: new Date(NOW).toISOString(), ...p });

describe('reconcileHello', () => {
  test('unreported tasks are lost; stale copies are cancelled; finished copies are left alone', () => {
    const a = task({ id: 'a' });
    const b = task({ id: 'b', epoch: 3 });
    const c = task({ id: 'c', status: 'cancelled' });
    const d = task({ id: 'd', worker_id: 'other', epoch: 2 });
    const byId = new Map([a, b, c, d].map((t) => [t.id, t]));
    const r = reconcileHello(
      'w',
      [
        { task_id: 'b', epoch: 2, state: 'running', gpu_uuids: [] },
        { task_id: 'c', epoch: 1, state: 'running', gpu_uuids: [] },
        { task_id: 'd', epoch: 1, state: 'running', gpu_uuids: [] },
        { task_id: 'e', epoch: 1, state: 'running', gpu_uuids: [] },
        { task_id: 'f', epoch: 1, state: 'completed', gpu_uuids: [] },
      ],
      (id) => byId.get(id),
      tasksOnWorker(byId.values(), 'w'),
    );
    assert.deepEqual(r.lost.map((t) => t.id), ['a', 'b']);
    assert.deepEqual(r.cancel.map((c) => [c.task_id, c.reason]), [
      ['b', 'task was reassigned'],
      ['c', 'task was cancelled'],
      ['d', 'task was reassigned'],
      ['e', 'task unknown to control'],
    ]);
  });

  test('a task the agent reports with the right epoch is kept', () => {
    const a = task({ id: 'a' });
    const r = reconcileHello('w', [{ task_id: 'a', epoch: 1, state: 'running', gpu_uuids: [] }], () => a, [a]);
    assert.deepEqual(r, { lost: [], cancel: [] });
  });
});

describe('decideStatus', () => {
  test('running sets started_at and audits job_started', () => {
    const d = decideStatus(task({ status: 'preparing' }), msg({}), 'w', NOW);
    assert.equal(d.kind, 'apply');
    assert.deepEqual(d.kind === 'apply' && [d.patch.status, d.patch.started_at, d.event], ['running', new Date(NOW).toISOString(), 'job_started']);
  });
  test('stale epoch is ignored and a running copy is cancelled', () => {
    const d = decideStatus(task({ epoch: 2 }), msg({ epoch: 1 }), 'w', NOW);
    assert.equal(d.kind, 'ignore');
    assert.equal(d.kind === 'ignore' && d.cancel?.reason, 'task was reassigned');
    const f = decideStatus(task({ epoch: 2 }), msg({ epoch: 1, state: 'completed' }), 'w', NOW);
    assert.ok(f.kind === 'ignore' && !f.cancel);
  });
  test('duplicates and regressions are ignored', () => {
    assert.equal(decideStatus(task({ status: 'collecting' }), msg({ state: 'running' }), 'w', NOW).kind, 'ignore');
    assert.equal(decideStatus(task({ status: 'running' }), msg({ state: 'running' }), 'w', NOW).kind, 'ignore');
  });
  test('entrypoint failure keeps the exit code; infrastructure failure is retried then fails', () => {
    const e = decideStatus(task({}), msg({ state: 'failed', exit_code: 3, failure_kind: 'entrypoint' }), 'w', NOW);
    assert.ok(e.kind === 'apply' && e.patch.status === 'failed' && e.patch.exit_code === 3 && e.patch.error === 'entrypoint exited with code 3');
    const i = decideStatus(task({ status: 'preparing' }), msg({ state: 'failed', failure_kind: 'infrastructure', error: 'bad archive' }), 'w', NOW);
    assert.ok(i.kind === 'apply' && i.patch.status === 'queued' && i.patch.retry_count === 1 && i.event === 'job_requeued');
    const last = decideStatus(task({ status: 'preparing', retry_count: 2 }), msg({ state: 'failed', failure_kind: 'infrastructure', error: 'bad archive' }), 'w', NOW);
    assert.ok(last.kind === 'apply' && last.patch.status === 'failed' && last.patch.failure_kind === 'infrastructure' && last.patch.error === 'bad archive');
  });
  test("a final frame that supersedes the running report sets started_at from the agent's start time", () => {
    const start = new Date(NOW - 3).toISOString();
    const c = decideStatus(task({ status: 'preparing' }), msg({ state: 'completed', exit_code: 0, started_at: start }), 'w', NOW);
    assert.ok(c.kind === 'apply' && c.patch.status === 'completed' && c.patch.started_at === start && c.patch.ended_at === new Date(NOW).toISOString());
    const f = decideStatus(task({ status: 'preparing', max_retries: 0 }), msg({ state: 'failed', exit_code: 2, failure_kind: 'entrypoint', started_at: start }), 'w', NOW);
    assert.ok(f.kind === 'apply' && f.patch.status === 'failed' && f.patch.started_at === start);
    // A task that failed before its entrypoint started has no start time.
    const never = decideStatus(task({ status: 'preparing', max_retries: 0 }), msg({ state: 'failed', failure_kind: 'infrastructure', error: 'checksum' }), 'w', NOW);
    assert.ok(never.kind === 'apply' && never.patch.status === 'failed' && !('started_at' in never.patch));
    // A start control already knows is kept; a garbage started_at falls back to the frame's time.
    const known = decideStatus(task({ status: 'running', started_at: 'earlier' }), msg({ state: 'completed', started_at: start }), 'w', NOW);
    assert.ok(known.kind === 'apply' && !('started_at' in known.patch));
    const bad = decideStatus(task({ status: 'preparing' }), msg({ state: 'completed', started_at: 'nope' }), 'w', NOW);
    assert.ok(bad.kind === 'apply' && bad.patch.started_at === new Date(NOW).toISOString());
  });
  test('a refusal requeues without spending a retry, the first FREE_REFUSALS times', () => {
    const refused = msg({ state: 'failed', failure_kind: 'infrastructure', error: 'agent refused the assignment: no free batch slot', refused: true });
    const first = decideStatus(task({ status: 'preparing', retry_count: 1 }), refused, 'w', NOW, 0);
    assert.ok(first.kind === 'apply' && first.patch.status === 'queued' && first.patch.retry_count === 1 && first.event === 'job_requeued', JSON.stringify(first));
    assert.match(String(first.kind === 'apply' && first.patch.pending_reason), /worker w refused it/);
    const later = decideStatus(task({ status: 'preparing', retry_count: 1 }), refused, 'w', NOW, FREE_REFUSALS);
    assert.ok(later.kind === 'apply' && later.patch.status === 'queued' && later.patch.retry_count === 2, 'counted like any infrastructure failure');
    const spent = decideStatus(task({ status: 'preparing', retry_count: 2 }), refused, 'w', NOW, FREE_REFUSALS);
    assert.ok(spent.kind === 'apply' && spent.patch.status === 'failed');
    // `refused` on anything but a failure, or from a stale copy, changes nothing special.
    assert.equal(decideStatus(task({ epoch: 2, status: 'preparing' }), refused, 'w', NOW).kind, 'ignore');
  });
  test('an unknown task or a malformed time never throws', () => {
    assert.equal(decideStatus(undefined, msg({}), 'w', NOW).kind, 'ignore');
    const d = decideStatus(task({ status: 'running' }), msg({ state: 'completed', at: 'garbage' }), 'w', NOW);
    assert.ok(d.kind === 'apply' && d.patch.ended_at === new Date(NOW).toISOString() && d.patch.exit_code === 0);
  });
});

describe('worker loss', () => {
  test('overdue workers', () => {
    const ws = [
      { id: 'a', status: 'active' as const, last_seen: NOW - 31_000 },
      { id: 'b', status: 'active' as const, last_seen: NOW - 29_000 },
      { id: 'c', status: 'offline' as const, last_seen: NOW - 99_000 },
      { id: 'd', status: 'draining' as const, last_seen: NOW - 40_000 },
    ];
    assert.deepEqual(overdueWorkers(ws, NOW, 30_000), ['a', 'd']);
  });
  test('lost task: requeued with one more retry, or failed as worker_lost past max_retries', () => {
    const r = lostTaskDecision(task({ retry_count: 1 }), 'w', NOW);
    assert.equal(r.event, 'job_requeued');
    assert.equal(r.patch.status, 'queued');
    assert.equal(r.patch.retry_count, 2);
    assert.ok('worker_id' in r.patch && r.patch.worker_id === undefined);
    const f = lostTaskDecision(task({ retry_count: 2 }), 'w', NOW);
    assert.equal(f.patch.status, 'failed');
    assert.equal(f.patch.failure_kind, 'worker_lost');
    assert.match(f.patch.error!, /worker lost/);
  });
});

describe('retry rule: the entrypoint\'s own exit retries only when the task asked for retries', () => {
  const failed = msg({ state: 'failed', exit_code: 3, failure_kind: 'entrypoint', error: 'entrypoint exited with code 3' });
  test('retry_on_exit: requeued with one more retry and the back-off clock reset, until max_retries', () => {
    const d = decideStatus(task({ retry_on_exit: true }), failed, 'w', NOW);
    assert.ok(d.kind === 'apply');
    assert.equal(d.event, 'job_requeued');
    assert.equal(d.patch.status, 'queued');
    assert.equal(d.patch.retry_count, 1);
    assert.equal(d.patch.queued_at, new Date(NOW).toISOString());
    assert.match(d.patch.pending_reason ?? '', /entrypoint failed, retrying/);
    const last = decideStatus(task({ retry_on_exit: true, retry_count: 2 }), failed, 'w', NOW);
    assert.ok(last.kind === 'apply' && last.patch.status === 'failed' && last.patch.failure_kind === 'entrypoint' && last.patch.exit_code === 3);
  });
  test('without retry_on_exit (or absent on an old task) the entrypoint failure fails at once', () => {
    for (const t of [task({ retry_on_exit: false }), task({})]) {
      const d = decideStatus(t, failed, 'w', NOW);
      assert.ok(d.kind === 'apply' && d.patch.status === 'failed' && d.event === 'job_failed');
    }
  });
  test('retryable over every kind', () => {
    const base = { retry_count: 0, max_retries: 1 };
    assert.equal(retryable({ ...base }, 'infrastructure'), true);
    assert.equal(retryable({ ...base }, 'worker_lost'), true);
    assert.equal(retryable({ ...base }, 'entrypoint'), false);
    assert.equal(retryable({ ...base, retry_on_exit: true }, 'entrypoint'), true);
    assert.equal(retryable({ ...base, retry_on_exit: true }, 'cancelled'), false);
    assert.equal(retryable({ retry_count: 1, max_retries: 1, retry_on_exit: true }, 'infrastructure'), false);
    assert.equal(retryable({ retry_count: 0, max_retries: 0, retry_on_exit: true }, 'entrypoint'), false);
  });
});

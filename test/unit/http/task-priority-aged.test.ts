/**
 * priority_aged is derived when a task is shown: every queued task has it (not only the first
 * ones the scheduler annotates), growing with its time in the queue, capped, with the planner's
 * own arithmetic and config. Here no workers and no scheduler: nothing else could write it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, type Harness } from './harness.js';
import { presentTask } from '../../../control/services/task-view.js';
import { agedPriority, resolveConfig, toSchedTask } from '../../../control/scheduler/index.js';
import type { Task, TaskList } from '../../../shared/api-types.js';
import { MINUTE } from '../../../shared/time.js';

const T0 = Date.UTC(2026, 0, 1);

describe('priority_aged on every queued task (fake clock, no workers)', () => {
  let h: Harness;
  let now = T0;
  before(async () => {
    h = await harness({ agingRatePerMinute: 0.2, agingCap: 3 }, { now: () => now });
  });
  after(() => h.close());

  const list = async () => {
    const r = await h.req(h.adminKey, { method: 'GET', url: '/v1/tasks?status=queued&limit=1000' });
    assert.equal(r.statusCode, 200);
    return r.json<TaskList>().tasks;
  };

  test('150 queued tasks: all carry priority_aged = priority at first, + age × rate later, capped', async () => {
    const reqs = Array.from({ length: 150 }, (_, i) => ({ job_name: `q${i}`, priority: 1 + (i % 10) }));
    const created = await h.req(h.adminKey, { method: 'POST', url: '/v1/tasks/batch', payload: { tasks: reqs } });
    assert.equal(created.statusCode, 201);
    for (const t of created.json<{ tasks: Task[] }>().tasks) assert.equal(t.priority_aged, t.priority);

    let tasks = await list();
    assert.equal(tasks.length, 150);
    for (const t of tasks) assert.equal(t.priority_aged, t.priority);

    now = T0 + 10 * MINUTE; // 10 min × 0.2 = 2 points
    tasks = await list();
    assert.equal(tasks.length, 150);
    for (const t of tasks) assert.equal(t.priority_aged, t.priority + 2, `${t.job_name}`);
    const one = tasks[149]!;
    const got = await h.req(h.adminKey, { method: 'GET', url: `/v1/tasks/${one.id}` });
    assert.equal(got.json<Task>().priority_aged, one.priority + 2);

    now = T0 + 100 * MINUTE; // capped at 3
    for (const t of await list()) assert.equal(t.priority_aged, t.priority + 3);

    now = T0 - 5 * MINUTE; // a clock stepped backwards: no negative bonus
    for (const t of await list()) assert.equal(t.priority_aged, t.priority);
  });

  test('a user sees the same on their own tasks; a finished task keeps its stored value', async () => {
    now = T0;
    const key = await h.userKey('alice');
    const r = await h.req(key, { method: 'POST', url: '/v1/tasks', payload: { job_name: 'mine', priority: 4 } });
    const t = r.json<Task>();
    now = T0 + 5 * MINUTE;
    const mine = await h.req(key, { method: 'GET', url: '/v1/tasks' });
    assert.deepEqual(mine.json<TaskList>().tasks.map((x) => x.priority_aged), [5]);
    await h.req(key, { method: 'DELETE', url: `/v1/tasks/${t.id}` });
    const cancelled = await h.req(key, { method: 'GET', url: `/v1/tasks/${t.id}` });
    assert.equal(cancelled.json<Task>().status, 'cancelled');
    assert.equal(cancelled.json<Task>().priority_aged, undefined);
  });
});

describe('presentTask', () => {
  const base: Task = { id: 'a', job_name: 'a', status: 'queued', priority: 7, created_at: '', queued_at: new Date(T0).toISOString(), updated_at: '', user_id: 'u', retry_count: 0, max_retries: 3, node_count: 1, slot_kind: 'batch', epoch: 0 };
  test('is the planner\'s number, and never mutates the stored task', () => {
    const cfg = resolveConfig({ agingRatePerMinute: 0.1, agingCap: 5 });
    for (const minutes of [0, 0.37, 7.5, 49, 51, 1e6]) {
      const at = T0 + minutes * MINUTE;
      const shown = presentTask(base, at, cfg);
      assert.equal(shown.priority_aged, agedPriority(toSchedTask(base, 0), at, cfg).effective);
      assert.ok(shown.priority_aged! >= 7 && shown.priority_aged! <= 12);
    }
    assert.equal(base.priority_aged, undefined);
    const running = { ...base, status: 'running' as const, priority_aged: 8.2 };
    assert.equal(presentTask(running, T0 + 60 * MINUTE, cfg), running);
  });
  test('garbage timestamps give what the planner sorts by (queued_at falls back to created_at, then epoch 0)', () => {
    const cfg = resolveConfig(undefined);
    assert.equal(presentTask({ ...base, queued_at: 'nonsense', created_at: new Date(T0).toISOString() }, T0 + 10 * MINUTE, cfg).priority_aged, 8);
    const junk = { ...base, queued_at: 'nonsense', created_at: 'also' };
    assert.equal(presentTask(junk, T0, cfg).priority_aged, agedPriority(toSchedTask(junk, 0), T0, cfg).effective);
    assert.equal(presentTask({ ...base, priority: Number.NaN }, T0, cfg).priority_aged, 5);
  });
});

/**
 * Task retention through the API (createControl with a clock the test moves): archived tasks stay
 * reachable by id with the live visibility rules, leave the list, keep queue stats, and are audited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent, QueueStats, Task, TaskList } from '../../../shared/api-types.js';
import { DAY_MS } from '../../../control/store/archive-sweep.js';
import { harness } from '../http/harness.js';

test('archived tasks: GET by id (owner and admin; 404 for others), DELETE 409, list and total cover live tasks, stats and logs unchanged', async () => {
  let now = Date.UTC(2030, 3, 10, 9);
  const clock = { now: () => now };
  const h = await harness({ taskRetentionDays: 2 }, clock);
  try {
    const alice = await h.userKey('alice');
    const bob = await h.userKey('bob');
    const create = async (key: string, name: string) => (await h.req(key, { method: 'POST', url: '/v1/tasks', payload: { job_name: name } })).json() as Task;
    const done = await create(alice, 'done');
    const failed = await create(alice, 'failed');
    const running = await create(alice, 'running');
    const bobs = await create(bob, 'bobs');
    const finish = (id: string, status: 'completed' | 'failed') => h.control.ctx.tasks.transition(id, { status, started_at: new Date(now).toISOString(), ended_at: new Date(now).toISOString(), ...(status === 'failed' ? { exit_code: 1 } : {}) });
    await finish(done.id, 'completed');
    await finish(failed.id, 'failed');
    await finish(bobs.id, 'completed');
    await h.control.ctx.tasks.transition(running.id, { status: 'running', started_at: new Date(now).toISOString() });
    await h.control.ctx.logs.append(done.id, 0, 'epoch 1 loss 0.3\n');

    now += 3 * DAY_MS;
    // A fresh task that finishes today: "completed today" must not move when the old ones leave.
    const today = await create(alice, 'today');
    await finish(today.id, 'completed');
    const statsBefore = (await h.req(h.adminKey, { method: 'GET', url: '/v1/queue' })).json() as QueueStats;
    const liveBefore = h.control.ctx.store.count('tasks');

    assert.equal(await h.control.archiveSweeper.runOnce(), 3);
    assert.equal(h.control.ctx.store.count('tasks'), liveBefore - 3);
    assert.deepEqual((await h.req(h.adminKey, { method: 'GET', url: '/v1/queue' })).json(), statsBefore);

    const got = await h.req(alice, { method: 'GET', url: `/v1/tasks/${done.id}` });
    assert.equal(got.statusCode, 200);
    const body = got.json() as Task;
    assert.equal(body.status, 'completed');
    assert.equal(body.job_name, 'done');
    assert.equal(body.output, 'epoch 1 loss 0.3\n', 'the log stays where it was');
    assert.equal((await h.req(alice, { method: 'GET', url: `/v1/tasks/${done.id}/logs` })).body, 'epoch 1 loss 0.3\n');
    assert.equal((await h.req(alice, { method: 'GET', url: `/v1/tasks/${failed.id}` })).json().status, 'failed');
    assert.equal((await h.req(bob, { method: 'GET', url: `/v1/tasks/${done.id}` })).statusCode, 404, "another user's archived task");
    assert.equal((await h.req(bob, { method: 'GET', url: `/v1/tasks/${bobs.id}` })).statusCode, 200);
    assert.equal((await h.req(h.adminKey, { method: 'GET', url: `/v1/tasks/${done.id}` })).statusCode, 200, 'admins see all');
    const del = await h.req(alice, { method: 'DELETE', url: `/v1/tasks/${done.id}` });
    assert.equal(del.statusCode, 409);
    assert.equal(del.json().code, 'CONFLICT');
    assert.equal((await h.req(bob, { method: 'DELETE', url: `/v1/tasks/${done.id}` })).statusCode, 404);
    const prio = await h.req(h.adminKey, { method: 'PATCH', url: `/v1/scheduler/jobs/${done.id}/priority`, payload: { priority: 9 } });
    assert.equal(prio.statusCode, 409, 'an archived task is finished');
    // Its job stream gives the final state once and ends (no open stream on a task that cannot change).
    const stream = await h.req(alice, { method: 'GET', url: `/v1/scheduler/jobs/${done.id}/stream` });
    assert.equal(stream.statusCode, 200);
    assert.match(stream.body, /event: task\ndata: \{[^\n]*"status":"completed"/);
    assert.equal((await h.req(bob, { method: 'GET', url: `/v1/scheduler/jobs/${done.id}/stream` })).statusCode, 404);
    const unknown = await h.req(alice, { method: 'GET', url: '/v1/tasks/00000000-0000-4000-8000-000000000000' });
    assert.equal(unknown.statusCode, 404);

    const list = (await h.req(alice, { method: 'GET', url: '/v1/tasks' })).json() as TaskList;
    assert.deepEqual(list.tasks.map((t) => t.job_name).sort(), ['running', 'today']);
    assert.equal(list.total, 2);
    const all = (await h.req(h.adminKey, { method: 'GET', url: '/v1/tasks?status=completed' })).json() as TaskList;
    assert.deepEqual(all.tasks.map((t) => t.job_name), ['today']);

    const audit = (await h.req(h.adminKey, { method: 'GET', url: '/v1/audit/events?event_type=tasks_archived' })).json() as { events: AuditEvent[] };
    assert.equal(audit.events.length, 1);
    assert.equal(audit.events[0]!.metadata?.count, 3);
    assert.equal(audit.events[0]!.resource, 'archive/tasks-2030-04.jsonl');
    assert.equal((await h.req(h.adminKey, { method: 'POST', url: '/v1/audit/verify', payload: {} })).json().valid, true);
  } finally {
    await h.close();
  }
});

test('retention 0 (the default) archives nothing, however old', async () => {
  let now = Date.UTC(2030, 3, 10, 9);
  const h = await harness({}, { now: () => now });
  try {
    const alice = await h.userKey('alice');
    const t = (await h.req(alice, { method: 'POST', url: '/v1/tasks', payload: { job_name: 'old' } })).json() as Task;
    await h.control.ctx.tasks.transition(t.id, { status: 'completed', ended_at: new Date(now).toISOString() });
    now += 400 * DAY_MS;
    assert.equal(await h.control.archiveSweeper.runOnce(), 0);
    assert.equal(h.control.ctx.store.count('tasks'), 1);
  } finally {
    await h.close();
  }
});

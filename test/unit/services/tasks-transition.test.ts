import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlEvents } from '../../../control/context.js';
import type { Actor } from '../../../control/services/actor.js';
import { createTaskService } from '../../../control/services/tasks.js';
import { createMemoryStore } from '../../../control/store/memory-store.js';

const admin: Actor = { kind: 'key', key_id: 'k', user_id: 'u', role: 'admin' };

function setup() {
  const clock = { now: () => Date.UTC(2026, 10, 23) };
  const store = createMemoryStore({ clock });
  const tasks = createTaskService({ store, events: new ControlEvents(), clock });
  const audit = (id: string) =>
    store
      .auditEvents({ limit: 100, offset: 0 })
      .events.filter((e) => e.resource === `task:${id}`)
      .map((e) => e.event_type);
  return { store, tasks, audit };
}

test('a task reported started and ended at once is audited as started before its end', async () => {
  const { tasks, audit } = setup();
  const t = await tasks.create(admin, { job_name: 'short', entrypoint: '/bin/true' });
  await tasks.transition(t.id, { status: 'preparing', worker_id: 'w' });
  const done = await tasks.transition(t.id, { status: 'completed', started_at: '2026-11-23T00:00:00.001Z', ended_at: '2026-11-23T00:00:00.004Z', exit_code: 0 });
  assert.equal(done.started_at, '2026-11-23T00:00:00.001Z');
  assert.deepEqual(audit(t.id), ['job_queued', 'job_started', 'job_completed']);
});

test('no extra job_started: a task that reported running, or one that never started', async () => {
  const { tasks, audit } = setup();
  const ran = await tasks.create(admin, { job_name: 'ran', entrypoint: '/bin/true' });
  await tasks.transition(ran.id, { status: 'preparing', worker_id: 'w' });
  await tasks.transition(ran.id, { status: 'running', started_at: '2026-11-23T00:00:00.001Z' });
  await tasks.transition(ran.id, { status: 'completed', ended_at: '2026-11-23T00:00:01.000Z', exit_code: 0 });
  assert.deepEqual(audit(ran.id), ['job_queued', 'job_started', 'job_completed']);
  const never = await tasks.create(admin, { job_name: 'never', entrypoint: '/bin/true', max_retries: 0 });
  await tasks.transition(never.id, { status: 'preparing', worker_id: 'w' });
  await tasks.transition(never.id, { status: 'failed', ended_at: '2026-11-23T00:00:01.000Z', failure_kind: 'infrastructure', error: 'checksum mismatch' });
  assert.deepEqual(audit(never.id), ['job_queued', 'job_failed']);
});

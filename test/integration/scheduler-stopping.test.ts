/**
 * A cancelled task keeps its slot until the agent has stopped it (Slurm's COMPLETING): control
 * does not hand the slot to the next task during the agent's stop grace period, so that task is
 * never refused by the agent and never spends a retry. Real control and agent on loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEvent, Task, Worker } from '../../shared/api-types.js';
import { startCluster, type Cluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';

describe('a task being stopped keeps its resources', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    c.startAgent('one-slot', { args: ['--batch-slots', '1'], env: { FETCHML_STOP_GRACE_SECONDS: '4' } });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'the agent', timeoutMs: 20_000 });
  });
  after(() => c.close());

  test('the next task waits for the stopped one instead of being refused and retried', async () => {
    const marker = join(c.dir, 'stubborn-ended');
    // Ignores SIGTERM (and so does its sleep): it ends only with the SIGKILL after the 4 s grace.
    const stubborn = await c.submit({ entrypoint: `/bin/sh -c 'trap "" TERM; echo up; sleep 30; echo done > ${marker}'`, max_retries: 0 });
    await c.waitStatus(stubborn.id, ['running']);
    await waitFor(async () => (await c.api<string>('GET', `/v1/tasks/${stubborn.id}/logs`)).body.includes('up'), { what: 'the stubborn task to start' });

    assert.equal((await c.api('DELETE', `/v1/tasks/${stubborn.id}`)).status, 204);
    const next = await c.submit({ entrypoint: '/bin/true' });
    // While the agent waits out the grace period the slot is taken: the worker shows it, and the
    // next task stays queued rather than being sent to an agent that would refuse it.
    const busy = (await c.workers())[0] as Worker;
    assert.equal(busy.slots.batch_available, 0, JSON.stringify(busy.slots));
    await new Promise((r) => setTimeout(r, 800));
    assert.equal((await c.task(next.id)).status, 'queued');

    const done = await c.waitStatus(next.id, ['completed', 'failed']);
    assert.equal(done.status, 'completed');
    assert.equal(done.retry_count, 0, 'never refused by the agent');
    const events = (await c.api<{ events: AuditEvent[] }>('GET', '/v1/audit/events?limit=1000')).body.events.filter((e) => e.resource === `task:${next.id}`).map((e) => e.event_type);
    assert.deepEqual(events, ['job_queued', 'job_started', 'job_completed']);
    assert.equal((await c.task(stubborn.id)).status, 'cancelled');
    await assert.rejects(readFile(marker), 'the stubborn task was killed, not left to finish');
    const after = ((await c.workers())[0] as Worker).slots;
    await waitFor(async () => ((await c.workers())[0] as Worker).slots.batch_available === 1, { what: 'the slot back', timeoutMs: 5000 });
    assert.ok(after.batch_total === 1);
  });

  test('a cancelled task that stops at once frees its slot at once', async () => {
    const quick = await c.submit({ entrypoint: '/bin/sleep 30' });
    await c.waitStatus(quick.id, ['running']);
    const t0 = Date.now();
    assert.equal((await c.api('DELETE', `/v1/tasks/${quick.id}`)).status, 204);
    const next = await c.submit({ entrypoint: '/bin/true' });
    const done: Task = await c.waitStatus(next.id, ['completed', 'failed']);
    assert.equal(done.status, 'completed');
    assert.equal(done.retry_count, 0);
    // sleep dies on SIGTERM: far sooner than the 4 s grace.
    assert.ok(Date.now() - t0 < 3500, `took ${Date.now() - t0} ms`);
  });
});

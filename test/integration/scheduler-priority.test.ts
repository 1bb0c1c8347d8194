/**
 * The planner drives real agents: one slot, tasks of different priority run highest first, and a
 * priority change of a queued task changes the order. A gate file holds the slot while the queue fills.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Task } from '../../shared/api-types.js';
import { startCluster, type Cluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';

describe('priority order with one slot (real agent, fake GPU)', () => {
  let c: Cluster;
  let gates = 0;
  /** A task that holds the slot until the test opens its gate. */
  const blocker = async () => {
    const gate = join(c.dir, `gate-${gates++}`);
    const t = await c.submit({ gpu: 1, entrypoint: `/bin/sh -c 'while [ ! -f ${gate} ]; do sleep 0.05; done'` });
    await c.waitStatus(t.id, ['running']);
    return { t, open: () => writeFileSync(gate, '') };
  };
  const startOrder = (ts: Task[]) => [...ts].sort((a, b) => Date.parse(a.started_at!) - Date.parse(b.started_at!) || a.epoch - b.epoch).map((t) => t.job_name);

  before(async () => {
    c = await startCluster();
    c.startAgent('solo', { fixture: '1gpu' });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'the worker', timeoutMs: 20_000 });
  });
  after(() => c.close());

  test('three queued tasks run highest priority first, whatever the submit order', async () => {
    const b = await blocker();
    const low = await c.submit({ job_name: 'low', priority: 2, gpu: 1, entrypoint: '/bin/sh -c "sleep 0.1"' });
    const high = await c.submit({ job_name: 'high', priority: 9, gpu: 1, entrypoint: '/bin/sh -c "sleep 0.1"' });
    const mid = await c.submit({ job_name: 'mid', priority: 5, gpu: 1, entrypoint: '/bin/sh -c "sleep 0.1"' });
    // While the slot is held they all wait, with a reason and their effective priority.
    const waiting = await waitFor(async () => {
      const ts = await Promise.all([low, high, mid].map((t) => c.task(t.id)));
      return ts.every((t) => t.status === 'queued' && t.pending_reason && typeof t.priority_aged === 'number') ? ts : undefined;
    }, { what: 'pending reasons' });
    assert.ok(waiting[1]!.priority_aged! >= 9 && waiting[0]!.priority_aged! < 3);
    b.open();
    const done = await Promise.all([low, high, mid].map((t) => c.waitStatus(t.id, ['completed', 'failed'])));
    for (const t of done) assert.equal(t.status, 'completed', t.error);
    assert.deepEqual(startOrder(done), ['high', 'mid', 'low']);
  });

  test('raising a queued task’s priority moves it ahead; the change is audited', async () => {
    const b = await blocker();
    const first = await c.submit({ job_name: 'first', priority: 5, gpu: 1, entrypoint: '/bin/sh -c "sleep 0.1"' });
    const second = await c.submit({ job_name: 'second', priority: 5, gpu: 1, entrypoint: '/bin/sh -c "sleep 0.1"' });
    const r = await c.api<Task>('PATCH', `/v1/scheduler/jobs/${second.id}/priority`, { priority: 8 });
    assert.equal(r.status, 200);
    assert.equal(r.body.priority, 8);
    assert.ok((r.body.priority_aged ?? 0) >= 8);
    b.open();
    const done = await Promise.all([first, second].map((t) => c.waitStatus(t.id, ['completed', 'failed'])));
    assert.deepEqual(startOrder(done), ['second', 'first']);
    const audit = await c.api<{ events: Array<{ event_type: string; resource?: string; metadata?: Record<string, unknown> }> }>('GET', '/v1/audit/events?event_type=job_priority_changed&limit=50');
    const ev = audit.body.events.find((e) => e.resource === `task:${second.id}`);
    assert.ok(ev, 'job_priority_changed recorded');
    assert.deepEqual([ev.metadata?.from, ev.metadata?.to], [5, 8]);
  });

  test('a running task’s priority change is recorded; a finished task refuses one', async () => {
    const b = await blocker();
    const r = await c.api<Task>('PATCH', `/v1/scheduler/jobs/${b.t.id}/priority`, { priority: 1 });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'running');
    assert.equal((await c.task(b.t.id)).priority, 1);
    b.open();
    await c.waitStatus(b.t.id, ['completed']);
    assert.equal((await c.api('PATCH', `/v1/scheduler/jobs/${b.t.id}/priority`, { priority: 3 })).status, 409);
    assert.equal((await c.api('PATCH', `/v1/scheduler/jobs/${b.t.id}/priority`, { priority: 'high' })).status, 422);
  });
});

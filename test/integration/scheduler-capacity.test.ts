/**
 * Reservations and drain on real agents: reserved capacity is held from other users and claimed by
 * its owner's task; drain without a deadline lets running work finish and takes no new work; with a
 * deadline its tasks are stopped and requeued (retry not counted); undrain returns it to service.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reservation, Task, Worker } from '../../shared/api-types.js';
import { startCluster, type Cluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';
import { processAlive } from '../helpers/process.js';

let c: Cluster;
let gates = 0;
const gated = () => {
  const gate = join(c.dir, `gate-${gates++}`);
  return { entrypoint: `/bin/sh -c 'echo pid=$$; while [ ! -f ${gate} ]; do sleep 0.05; done'`, open: () => writeFileSync(gate, '') };
};
const as = async <T>(key: string, method: string, path: string, body?: unknown) => {
  const r = await fetch(`${c.url}${path}`, { method, headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
};
const pendingOf = (id: string) => waitFor(async () => {
  const t = await c.task(id);
  return t.status === 'queued' && t.pending_reason ? t : undefined;
}, { what: `a pending reason for ${id}` });

describe('reservations (two workers, one fake GPU each)', () => {
  let alice: string;
  let bob: string;
  before(async () => {
    c = await startCluster();
    c.startAgent('r1', { fixture: '1gpu' });
    c.startAgent('r2', { fixture: '1gpu' });
    await waitFor(async () => (await c.workers()).filter((w) => w.status === 'active').length === 2, { what: '2 workers', timeoutMs: 20_000 });
    alice = (await c.api<{ key: string }>('POST', '/v1/keys', { user_id: 'alice', role: 'user' })).body.key;
    bob = (await c.api<{ key: string }>('POST', '/v1/keys', { user_id: 'bob', role: 'user' })).body.key;
  });
  after(() => c.close());

  test('an impossible reservation is refused with the reason', async () => {
    const r = await c.api<{ error: string }>('POST', '/v1/scheduler/reservations', { gpu_count: 2, node_count: 1, user_id: 'bob' });
    assert.equal(r.status, 422);
    assert.match(r.body.error, /needs 1 worker with 2 healthy GPUs/);
    assert.equal((await c.api('POST', '/v1/scheduler/reservations', { gpu_count: 1, gpu_type: 'TPU', user_id: 'bob' })).status, 422);
  });

  test('held from another user, claimed by its owner, active again when the claim ends', async () => {
    const created = await c.api<Reservation>('POST', '/v1/scheduler/reservations', { gpu_count: 1, node_count: 1, expires_minutes: 10, user_id: 'bob' });
    assert.equal(created.status, 201);
    const res = created.body;
    // Alice fills what she can: one task runs, the other waits on the reserved GPU.
    const a1 = gated();
    const a2 = gated();
    const t1 = (await as<Task>(alice, 'POST', '/v1/tasks', { job_name: 'a1', gpu: 1, entrypoint: a1.entrypoint })).body;
    const t2 = (await as<Task>(alice, 'POST', '/v1/tasks', { job_name: 'a2', gpu: 1, entrypoint: a2.entrypoint })).body;
    await c.waitStatus(t1.id, ['running']);
    const waiting = await pendingOf(t2.id);
    assert.match(waiting.pending_reason!, /reserved capacity/);
    // Alice cannot name Bob's reservation.
    assert.equal((await as(alice, 'POST', '/v1/tasks', { job_name: 'steal', gpu: 1, reservation_id: res.id })).status, 422);
    // Bob's task naming it starts at once and claims it.
    const b = gated();
    const tb = (await as<Task>(bob, 'POST', '/v1/tasks', { job_name: 'b', gpu: 1, reservation_id: res.id, entrypoint: b.entrypoint })).body;
    const running = await c.waitStatus(tb.id, ['running']);
    assert.notEqual(running.worker_id, (await c.task(t1.id)).worker_id);
    const claimed = await waitFor(async () => (await c.api<Reservation[]>('GET', '/v1/scheduler/reservations')).body.find((r) => r.id === res.id && r.status === 'claimed'), { what: 'claimed' });
    assert.equal(claimed.task_id, tb.id);
    assert.equal((await c.task(t2.id)).status, 'queued');
    // Bob's task ends: the reservation is active again (it has not expired) and still held from Alice.
    b.open();
    await c.waitStatus(tb.id, ['completed']);
    await waitFor(async () => (await c.api<Reservation[]>('GET', '/v1/scheduler/reservations')).body.find((r) => r.id === res.id && r.status === 'active'), { what: 'active again' });
    assert.equal((await c.task(t2.id)).status, 'queued');
    // Cancelled: Alice's waiting task takes the GPU.
    assert.equal((await c.api('DELETE', `/v1/scheduler/reservations/${res.id}`)).status, 204);
    await c.waitStatus(t2.id, ['running']);
    a1.open();
    a2.open();
    await Promise.all([t1, t2].map((t) => c.waitStatus(t.id, ['completed'])));
    const audit = await c.api<{ events: Array<{ event_type: string; resource?: string }> }>('GET', '/v1/audit/events?limit=500');
    const types = audit.body.events.filter((e) => e.resource === `reservation:${res.id}`).map((e) => e.event_type);
    assert.ok(types.includes('reservation_created') && types.includes('reservation_claimed'), types.join(','));
  });
});

describe('drain and undrain (one worker, one fake GPU)', () => {
  let workerId: string;
  before(async () => {
    c = await startCluster();
    c.startAgent('d1', { fixture: '1gpu' });
    workerId = (await waitFor(async () => (await c.workers()).find((w) => w.status === 'active'), { what: 'the worker', timeoutMs: 20_000 })).id;
  });
  after(() => c.close());
  const worker = async () => (await c.api<Worker>('GET', `/v1/scheduler/workers/${workerId}`)).body;

  test('without a deadline: running work finishes, nothing new starts until undrain', async () => {
    const g = gated();
    const running = await c.submit({ gpu: 1, entrypoint: g.entrypoint });
    await c.waitStatus(running.id, ['running']);
    assert.equal((await c.api('DELETE', `/v1/scheduler/workers/${workerId}?reason=kernel%20upgrade`)).status, 204);
    const w = await worker();
    assert.equal(w.status, 'draining');
    assert.match(w.status_reason ?? '', /kernel upgrade/);
    assert.deepEqual(w.active_tasks, [running.id]);
    const next = await c.submit({ gpu: 1, entrypoint: '/bin/true' });
    g.open();
    assert.equal((await c.waitStatus(running.id, ['completed', 'failed'])).status, 'completed');
    const waiting = await pendingOf(next.id);
    assert.match(waiting.pending_reason!, /no active workers/);
    const undrained = await c.api<Worker>('POST', `/v1/scheduler/workers/${workerId}/undrain`);
    assert.equal(undrained.status, 200);
    assert.equal(undrained.body.status, 'active');
    assert.equal((await c.waitStatus(next.id, ['completed', 'failed'])).status, 'completed');
    const audit = await c.api<{ events: Array<{ event_type: string; resource?: string; metadata?: Record<string, unknown> }> }>('GET', '/v1/audit/events?limit=500');
    const mine = audit.body.events.filter((e) => e.resource === `worker:${workerId}`);
    assert.equal(mine.find((e) => e.event_type === 'scheduler_drain')?.metadata?.reason, 'kernel upgrade');
    assert.ok(mine.some((e) => e.event_type === 'scheduler_undrain'));
  });

  test('with a deadline: its tasks are stopped and requeued without spending a retry', async () => {
    const g = gated();
    const t = await c.submit({ gpu: 1, entrypoint: g.entrypoint });
    const r0 = await c.waitStatus(t.id, ['running']);
    assert.equal((await c.api('DELETE', `/v1/scheduler/workers/${workerId}?deadline_seconds=1&reason=maintenance`)).status, 204);
    assert.ok((await worker()).drain_deadline);
    const requeued = await c.waitStatus(t.id, ['queued'], 10_000);
    assert.equal(requeued.retry_count, 0);
    assert.equal(requeued.worker_id, undefined);
    const audit = await c.api<{ events: Array<{ event_type: string; resource?: string; metadata?: Record<string, unknown> }> }>('GET', '/v1/audit/events?event_type=job_requeued&limit=100');
    assert.equal(audit.body.events.find((e) => e.resource === `task:${t.id}`)?.metadata?.reason, 'drain deadline passed');
    const pid = Number(/pid=(\d+)/.exec((await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body)?.[1]);
    await waitFor(() => !processAlive(pid), { what: 'the drained task stopped', timeoutMs: 10_000 });
    assert.equal((await c.api('DELETE', `/v1/scheduler/workers/${workerId}?deadline_seconds=-3`)).status, 400);
    await c.api('POST', `/v1/scheduler/workers/${workerId}/undrain`);
    g.open();
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'completed');
    assert.equal(done.epoch, r0.epoch + 1);
  });

  test('drain state survives an agent restart', async () => {
    assert.equal((await c.api('DELETE', `/v1/scheduler/workers/${workerId}`)).status, 204);
    const restarted = c.startAgent('d1', { fixture: '1gpu' });
    void restarted;
    await waitFor(async () => {
      const w = await worker();
      return w.status === 'draining' && w.connected_at ? w : undefined;
    }, { what: 'reconnected and still draining' });
    await c.api('POST', `/v1/scheduler/workers/${workerId}/undrain`);
  });
});

describe('an unhealthy GPU (ECC) is never planned', () => {
  before(async () => {
    c = await startCluster();
    c.startAgent('ecc', { fixture: 'ecc' });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'the worker', timeoutMs: 20_000 });
  });
  after(() => c.close());

  test('the worker says why; a task needing that GPU waits, one that fits the healthy GPU runs', async () => {
    const w = (await c.workers())[0]!;
    const gpus = w.capabilities.gpus ?? [];
    const sick = gpus.filter((g) => !g.healthy);
    assert.ok(sick.length >= 1 && sick.length < gpus.length, 'the fixture has healthy and unhealthy GPUs');
    assert.match(w.status_reason ?? '', new RegExp(`GPU ${sick[0]!.index} unhealthy`));
    const big = await c.submit({ gpu: gpus.length, entrypoint: '/bin/true' });
    const small = await c.submit({ gpu: 1, entrypoint: "/bin/sh -c 'echo CUDA=$CUDA_VISIBLE_DEVICES'" });
    const sd = await c.waitStatus(small.id, ['completed', 'failed']);
    assert.equal(sd.status, 'completed', JSON.stringify(sd));
    const log = (await c.api<string>('GET', `/v1/tasks/${small.id}/logs`)).body;
    assert.ok(!log.includes(`CUDA=${sick[0]!.index}\n`), `the unhealthy GPU was not granted: ${log}`);
    const waiting = await pendingOf(big.id);
    assert.match(waiting.pending_reason!, /needs 1 node with 2 free GPUs/);
  });
});

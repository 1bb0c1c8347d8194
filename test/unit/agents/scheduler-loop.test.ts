import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type WebSocket from 'ws';
import { loadConfig } from '../../../control/config.js';
import { ControlEvents, type ControlContext } from '../../../control/context.js';
import { WorkerRegistry } from '../../../control/agents/registry.js';
import { createSchedulerLoop } from '../../../control/agents/scheduler-loop.js';
import { createTaskService } from '../../../control/services/tasks.js';
import { createMemoryStore } from '../../../control/store/memory-store.js';
import type { Actor } from '../../../control/services/actor.js';
import type { HelloMessage, TaskAssignment } from '../../../shared/protocol.js';
import { silentLogger } from '../../../shared/logger.js';
import { tempDir } from '../../helpers/tmp.js';

const admin: Actor = { kind: 'key', key_id: 'k', user_id: 'u', role: 'admin' };
const hello = (id: string, gpus: number, slots: number): HelloMessage => ({
  type: 'hello', protocol: 1, worker_id: id, name: id, address: `${id}.local`, agent_version: 't', running: [],
  capabilities: { gpus: Array.from({ length: gpus }, (_, index) => ({ index, uuid: `${id}-${index}`, name: 'NVIDIA H100 80GB HBM3', memory_total_mb: 80000, healthy: true })), cpu_cores: 32, memory_gb: 256, hostname: id, runtime: 'process', probe_status: 'ok' },
  slots: { batch_total: slots, service_total: 0 },
});

async function setup(loopOpts: { pendingWrites?: number } = {}) {
  const dir = await tempDir('fetchml-loop-');
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = { now: () => now };
  const store = createMemoryStore({ clock });
  const events = new ControlEvents();
  let loop: ReturnType<typeof createSchedulerLoop> | undefined;
  const tasks = createTaskService({ store, events, clock, pendingReason: (id) => loop?.pendingReason(id) });
  const ctx = { config: loadConfig({}, { dataDir: dir.path }), store, logger: silentLogger, clock, events, tasks } as unknown as ControlContext;
  const registry = new WorkerRegistry(ctx);
  const sent: Array<{ worker: string; a: TaskAssignment }> = [];
  loop = createSchedulerLoop(ctx, registry, (worker, a) => sent.push({ worker, a }), { slowTimerMs: 3_600_000, ...loopOpts });
  events.on('task', (t, prev) => {
    registry.track(t);
    loop.noteTask(t, prev);
  });
  const connect = (id: string, gpus: number, slots: number) => registry.connect(hello(id, gpus, slots), { terminate() {} } as unknown as WebSocket, undefined);
  return { ctx, loop, sent, connect, tick: (ms: number) => (now += ms), close: async () => (await loop.close(), await dir[Symbol.asyncDispose]()) };
}

describe('scheduler loop (coalesced passes over the live view)', () => {
  const open: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of open) await c();
  });

  test('every waiting task shows why it waits, also past the first ones whose reason is stored', async () => {
    const s = await setup({ pendingWrites: 2 });
    open.push(s.close);
    await s.connect('w1', 1, 1);
    const tasks = [];
    for (let i = 0; i < 6; i++) tasks.push(await s.ctx.tasks.create(admin, { job_name: `g${i}`, gpu: 1 }));
    await s.loop.runNow();
    await s.loop.runNow();
    const waiting = tasks.filter((t) => s.ctx.store.get('tasks', t.id)?.status === 'queued');
    assert.equal(waiting.length, 5);
    const stored = waiting.filter((t) => s.ctx.store.get('tasks', t.id)?.pending_reason);
    assert.ok(stored.length <= 2, `${stored.length} reasons stored`);
    for (const t of waiting) {
      const shown = s.ctx.tasks.get(admin, t.id);
      assert.ok(shown.pending_reason && shown.pending_reason === s.loop.pendingReason(t.id), `${t.id}: ${String(shown.pending_reason)}`);
    }
    // A task that is no longer queued shows no live reason.
    const running = tasks.find((t) => s.ctx.store.get('tasks', t.id)?.status !== 'queued')!;
    assert.equal(s.ctx.tasks.get(admin, running.id).pending_reason, undefined);
  });

  test('a burst of 300 creations costs a few passes, not 300; every free slot is filled', async () => {
    const s = await setup();
    open.push(s.close);
    await s.connect('w1', 8, 8);
    await s.connect('w2', 8, 8);
    await Promise.all(Array.from({ length: 300 }, (_, i) => s.ctx.tasks.create(admin, { job_name: `t${i}`, gpu: 1 })));
    await s.loop.runNow();
    const passes = s.loop.stats().passes;
    assert.ok(passes <= 4, `${passes} passes for 300 events`);
    assert.equal(s.sent.length, 16);
    assert.equal(new Set(s.sent.map((x) => x.a.task_id)).size, 16);
    assert.equal(s.loop.hasFreeCapacity(), false);
    // Full cluster: more creations request no pass at all.
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.ctx.tasks.create(admin, { job_name: `more${i}`, gpu: 1 })));
    await new Promise((r) => setImmediate(r));
    assert.equal(s.loop.stats().passes, passes, `passes: ${passes} then ${s.loop.stats().passes}`);
    // Waiting tasks carry a reason and their effective priority (only the first K are written).
    const waiting = [...s.ctx.store.values('tasks')].filter((t) => t.status === 'queued');
    assert.ok(waiting.slice(0, 100).every((t) => typeof t.pending_reason === 'string' && t.priority_aged === 5), 'reasons written');
  });

  test('a finished task frees its slot and the next pass fills it, highest priority first', async () => {
    const s = await setup();
    open.push(s.close);
    await s.connect('w1', 1, 1);
    const first = await s.ctx.tasks.create(admin, { job_name: 'first', gpu: 1 });
    await s.loop.runNow();
    assert.deepEqual(s.sent.map((x) => x.a.task_id), [first.id]);
    const low = await s.ctx.tasks.create(admin, { job_name: 'low', gpu: 1, priority: 2 });
    const high = await s.ctx.tasks.create(admin, { job_name: 'high', gpu: 1, priority: 8 });
    await s.ctx.tasks.transition(first.id, { status: 'completed', exit_code: 0 });
    await s.loop.runNow();
    assert.deepEqual(s.sent.map((x) => x.a.task_id), [first.id, high.id]);
    assert.equal(s.ctx.store.get('tasks', low.id)?.status, 'queued');
    const placed = s.ctx.store.get('tasks', high.id)!;
    assert.equal(placed.status, 'preparing');
    assert.equal(placed.epoch, 1);
    assert.deepEqual(placed.node_assignments, [{ node_id: 0, worker_id: 'w1', slot_assigned: true }]);
  });

  test('a gang is assigned to N distinct workers at once with one rendezvous', async () => {
    const s = await setup();
    open.push(s.close);
    await s.connect('a', 4, 1);
    await s.connect('b', 4, 1);
    const g = await s.ctx.tasks.create(admin, { job_name: 'gang', gpu: 4, node_count: 2 });
    await s.loop.runNow();
    assert.equal(s.sent.length, 2);
    assert.deepEqual(s.sent.map((x) => x.worker).sort(), ['a', 'b']);
    const envs = s.sent.map((x) => x.a.env).sort((x, y) => Number(x.NODE_RANK) - Number(y.NODE_RANK));
    assert.deepEqual(envs.map((e) => e.NODE_RANK), ['0', '1']);
    const rank0 = s.ctx.store.get('tasks', g.id)!.worker_id!;
    for (const e of envs) {
      assert.equal(e.MASTER_ADDR, `${rank0}.local`);
      assert.equal(e.MASTER_PORT, envs[0]!.MASTER_PORT);
      assert.equal(e.WORLD_SIZE, '8');
    }
  });

  test('a retry waits out its back-off before it is planned', async () => {
    const s = await setup();
    open.push(s.close);
    await s.connect('w1', 1, 1);
    const t = await s.ctx.tasks.create(admin, { job_name: 'retry', gpu: 1 });
    await s.ctx.tasks.transition(t.id, { retry_count: 1, queued_at: new Date(s.ctx.clock.now()).toISOString() });
    await s.loop.runNow();
    assert.equal(s.sent.length, 0, 'within the 2 s back-off');
    s.tick(2_100);
    s.loop.request();
    await s.loop.runNow();
    assert.deepEqual(s.sent.map((x) => x.a.task_id), [t.id]);
  });

  test('a pass while a start is still being committed counts its slot as used and sends no assign before it is durable', async () => {
    const s = await setup();
    open.push(s.close);
    await s.connect('w1', 1, 1);
    const a = await s.ctx.tasks.create(admin, { job_name: 'a', gpu: 1 });
    const b = await s.ctx.tasks.create(admin, { job_name: 'b', gpu: 1 });
    // From here, commits apply to memory at once (as the store does) but are durable only on release.
    const store = s.ctx.store;
    const commit = store.commit.bind(store);
    const held: Array<() => void> = [];
    store.commit = (m, d) => {
      const p = commit(m, d);
      return new Promise((resolve) => held.push(() => resolve(p)));
    };
    const passes = s.loop.stats().passes;
    s.loop.request();
    while (s.loop.stats().passes < passes + 1) await new Promise((r) => setTimeout(r, 1));
    assert.equal(store.get('tasks', a.id)?.status, 'preparing');
    assert.equal(s.sent.length, 0, 'no assign before the start is durable');
    s.loop.request();
    while (s.loop.stats().passes < passes + 2) await new Promise((r) => setTimeout(r, 1));
    assert.equal(store.get('tasks', b.id)?.status, 'queued', 'the one slot is taken by the start in flight');
    // A late event of the queued task (a priority change committed before the start) must not undo it.
    s.ctx.events.emit('task', { ...store.get('tasks', a.id)!, status: 'queued' }, 'queued');
    s.loop.request();
    while (s.loop.stats().passes < passes + 3) await new Promise((r) => setTimeout(r, 1));
    assert.equal(store.get('tasks', b.id)?.status, 'queued', 'still taken after a late event');
    store.commit = commit;
    for (const release of held.splice(0)) release();
    await s.loop.runNow();
    assert.deepEqual(s.sent.map((x) => x.a.task_id), [a.id]);
    assert.equal(store.get('tasks', b.id)?.status, 'queued');
  });
});

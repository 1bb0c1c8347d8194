import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { createLogStore } from '../../../control/blobs/logs.js';
import { loadConfig } from '../../../control/config.js';
import { ControlEvents, type ControlContext } from '../../../control/context.js';
import { createAgentGateway } from '../../../control/agents/gateway.js';
import type { Actor } from '../../../control/services/actor.js';
import { createTaskService } from '../../../control/services/tasks.js';
import { createMemoryStore } from '../../../control/store/memory-store.js';
import { silentLogger } from '../../../shared/logger.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const admin: Actor = { kind: 'key', key_id: 'k', user_id: 'u', role: 'admin' };

test("an agent's frames are applied in order at once; each ack waits until its change is durable", async () => {
  await using dir = await tempDir('fetchml-gw-acks-');
  const clock = { now: () => Date.now() };
  const store = createMemoryStore({ clock });
  const events = new ControlEvents();
  const ctx = {
    config: loadConfig({}, { dataDir: dir.path }),
    store,
    logger: silentLogger,
    clock,
    events,
    tasks: createTaskService({ store, events, clock }),
    logs: createLogStore(dir.path),
  } as unknown as ControlContext;
  const gateway = createAgentGateway(ctx, { agentToken: 'tok' });
  const server = createServer();
  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/agents/connect`, { headers: { authorization: 'Bearer tok' } });
  const got: Array<Record<string, unknown>> = [];
  ws.on('message', (d) => got.push(JSON.parse(d.toString()) as Record<string, unknown>));
  try {
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({
      type: 'hello', protocol: 1, worker_id: 'w1', name: 'w1', address: '127.0.0.1', agent_version: 't', running: [],
      capabilities: { gpus: [], cpu_cores: 2, memory_gb: 4, hostname: 'h', runtime: 'process', probe_status: 'no_gpu' },
      slots: { batch_total: 1, service_total: 0 },
    }));
    await waitFor(() => got.some((m) => m.type === 'welcome'));
    const task = await ctx.tasks.create(admin, { job_name: 'a', entrypoint: '/bin/true' });
    await gateway.dispatch();
    await waitFor(() => got.some((m) => m.type === 'assign'));
    const epoch = store.get('tasks', task.id)!.epoch;

    // Commits now apply to memory at once (as the store does) but become durable only on release.
    const commit = store.commit.bind(store);
    const held: Array<() => void> = [];
    store.commit = (m, d) => {
      const p = commit(m, d);
      return new Promise((resolve) => held.push(() => resolve(p)));
    };
    const at = new Date().toISOString();
    ws.send(JSON.stringify({ type: 'task_status', task_id: task.id, epoch, state: 'running', at }));
    ws.send(JSON.stringify({ type: 'task_status', task_id: task.id, epoch, state: 'completed', at, exit_code: 0 }));
    // Both applied (the second needs the first in memory), neither acknowledged yet.
    await waitFor(() => store.get('tasks', task.id)?.status === 'completed');
    assert.equal(held.length, 2, 'two commits in flight together');
    assert.deepEqual(got.filter((m) => m.type === 'task_ack'), []);
    // A resent duplicate of a status in flight is not acknowledged before that one is durable either.
    ws.send(JSON.stringify({ type: 'task_status', task_id: task.id, epoch, state: 'completed', at, exit_code: 0 }));
    // Frames are handled in order: the ack of a log chunk of an unknown task (answered at once) says the duplicate was handled.
    ws.send(JSON.stringify({ type: 'log_chunk', task_id: 'other', epoch: 1, offset: 0, data: '' }));
    await waitFor(() => got.some((m) => m.type === 'task_ack' && m.task_id === 'other'));
    assert.deepEqual(got.filter((m) => m.type === 'task_ack' && m.task_id === task.id), []);

    store.commit = commit;
    for (const release of held.splice(0)) release();
    const acks = () => got.filter((m) => m.type === 'task_ack' && m.task_id === task.id);
    await waitFor(() => acks().length === 3);
    assert.deepEqual(acks().map((m) => m.state), ['running', 'completed', 'completed']);
    assert.equal(store.get('tasks', task.id)?.exit_code, 0);
  } finally {
    ws.terminate();
    await gateway.close();
    await new Promise((r) => server.close(r));
  }
});

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../../../shared/api-types.js';
import type { TaskStatusMessage } from '../../../shared/protocol.js';
import { decideGangStatus, gangStops } from '../../../control/agents/gang.js';
import { assignmentOf, masterPort, portRangeFromEnv } from '../../../control/agents/assignment.js';

const gang = (over: Partial<Task> = {}): Task => ({
  id: 'g', job_name: 'g', status: 'preparing', priority: 5, created_at: '', queued_at: '', updated_at: '', user_id: 'u', retry_count: 0, max_retries: 2,
  node_count: 3, slot_kind: 'batch', epoch: 4, worker_id: 'w0', gpu: 4,
  node_assignments: [0, 1, 2].map((r) => ({ node_id: r, worker_id: `w${r}`, slot_assigned: true })),
  ...over,
});
const msg = (state: TaskStatusMessage['state'], over: Partial<TaskStatusMessage> = {}): TaskStatusMessage => ({ type: 'task_status', task_id: 'g', epoch: 4, state, at: '2026-01-01T00:00:00.000Z', ...over });

describe('gang status aggregation', () => {
  test('running only when every node runs; completed only when every node exited 0', () => {
    let states: (TaskStatusMessage['state'] | undefined)[] = [];
    for (const w of ['w0', 'w1']) {
      const d = decideGangStatus(gang(), msg('running'), w, states, 0);
      assert.equal(d.kind, 'record');
      if (d.kind === 'record') states = d.states;
    }
    const d = decideGangStatus(gang(), msg('running'), 'w2', states, 0);
    assert.equal(d.kind, 'apply');
    if (d.kind !== 'apply') return;
    assert.equal(d.patch.status, 'running');
    states = ['completed', 'completed', 'running'];
    const last = decideGangStatus(gang({ status: 'running' }), msg('completed', { exit_code: 0 }), 'w2', states, 0);
    assert.equal(last.kind === 'apply' && last.patch.status, 'completed');
  });
  test('one node failing ends the gang: the others are stopped, entrypoint failure fails it', () => {
    const d = decideGangStatus(gang({ status: 'running' }), msg('failed', { exit_code: 3, failure_kind: 'entrypoint' }), 'w1', ['running', 'running', 'completed'], 0);
    assert.equal(d.kind, 'apply');
    if (d.kind !== 'apply') return;
    assert.equal(d.patch.status, 'failed');
    assert.match(d.patch.error ?? '', /node 1 .*code 3/);
    assert.deepEqual(d.stop.map((s) => s.worker_id), ['w0'], 'the finished node needs no cancel');
  });
  test('an infrastructure failure requeues the whole gang while retries are left', () => {
    const d = decideGangStatus(gang(), msg('failed', { failure_kind: 'infrastructure', error: 'port in use' }), 'w0', [], 0);
    assert.equal(d.kind === 'apply' && d.patch.status, 'queued');
    if (d.kind !== 'apply') return;
    assert.equal(d.patch.retry_count, 1);
    assert.equal(d.patch.node_assignments, undefined);
    assert.deepEqual(d.stop.map((s) => s.worker_id), ['w1', 'w2']);
    const out = decideGangStatus(gang({ retry_count: 2 }), msg('failed', { failure_kind: 'infrastructure' }), 'w0', [], 0);
    assert.equal(out.kind === 'apply' && out.patch.status, 'failed');
  });
  test('stale frames are ignored (and live stale copies cancelled)', () => {
    const other = decideGangStatus(gang(), msg('running'), 'stranger', [], 0);
    assert.equal(other.kind, 'ignore');
    assert.ok(other.kind === 'ignore' && other.cancel);
    const old = decideGangStatus(gang(), msg('completed', { epoch: 3 }), 'w0', [], 0);
    assert.equal(old.kind === 'ignore' && old.cancel, undefined);
    const dup = decideGangStatus(gang(), msg('running'), 'w0', ['running'], 0);
    assert.equal(dup.kind, 'ignore');
    assert.deepEqual(gangStops(gang(), 'w1').map((s) => s.rank), [0, 2]);
  });
});

describe('rendezvous environment', () => {
  test('every node: its rank, the same master, WORLD_SIZE = nodes × GPUs (nodes when no GPUs)', () => {
    const t = gang();
    const port = masterPort(t.id, t.epoch);
    const envs = [0, 1, 2].map((rank) => assignmentOf(t, { rank, nodes: 3, masterAddr: 'host-a', masterPort: port }).env);
    assert.deepEqual(envs.map((e) => e.NODE_RANK), ['0', '1', '2']);
    for (const e of envs) {
      assert.equal(e.WORLD_SIZE, '12');
      assert.equal(e.FETCHML_WORLD_SIZE, '12');
      assert.equal(e.MASTER_ADDR, 'host-a');
      assert.equal(e.FETCHML_MASTER_PORT, String(port));
      assert.equal(e.NNODES, '3');
    }
    assert.equal(assignmentOf(gang({ gpu: 0 }), { rank: 0, nodes: 3, masterAddr: 'h', masterPort: port }).env.WORLD_SIZE, '3');
  });
  test('MASTER_PORT: deterministic per (task, epoch), within the range; bad ranges fall back', () => {
    const range = portRangeFromEnv({ FETCHML_MASTER_PORT_RANGE: '40000-40009' });
    assert.deepEqual(range, { min: 40000, max: 40009 });
    const ports = new Set(Array.from({ length: 50 }, (_, e) => masterPort('task', e, range)));
    for (const p of ports) assert.ok(p >= 40000 && p <= 40009);
    assert.ok(ports.size > 1, 'a new epoch may draw another port');
    assert.equal(masterPort('task', 7, range), masterPort('task', 7, range));
    for (const bad of ['', '10-20', '50000-40000', 'x', '1-99999']) assert.deepEqual(portRangeFromEnv({ FETCHML_MASTER_PORT_RANGE: bad }), { min: 29500, max: 29999 });
  });
});

describe('gang retry rule', () => {
  test('an entrypoint failure requeues the whole gang only when the task set max_retries (retry_on_exit)', () => {
    const fail = msg('failed', { exit_code: 3, failure_kind: 'entrypoint' });
    const asked = decideGangStatus(gang({ status: 'running', retry_on_exit: true }), fail, 'w1', ['running', 'running', 'running'], 0);
    assert.ok(asked.kind === 'apply');
    assert.equal(asked.event, 'job_requeued');
    assert.equal(asked.patch.status, 'queued');
    assert.equal(asked.patch.retry_count, 1);
    assert.deepEqual(asked.stop.map((s) => s.rank).sort(), [0, 2]);
    const notAsked = decideGangStatus(gang({ status: 'running' }), fail, 'w1', ['running', 'running', 'running'], 0);
    assert.ok(notAsked.kind === 'apply' && notAsked.patch.status === 'failed' && notAsked.event === 'job_failed');
    const spent = decideGangStatus(gang({ status: 'running', retry_on_exit: true, retry_count: 2 }), fail, 'w1', ['running', 'running', 'running'], 0);
    assert.ok(spent.kind === 'apply' && spent.patch.status === 'failed' && spent.patch.failure_kind === 'entrypoint');
  });
});

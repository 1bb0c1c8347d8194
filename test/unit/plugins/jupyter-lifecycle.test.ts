/**
 * The Jupyter record's life on control, driven the way the agent drives it (task transitions and
 * task_report frames through applyTaskReport), on the in-memory app: no agent needed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { JupyterService, Task, Worker } from '../../../shared/api-types.js';
import { applyTaskReport } from '../../../control/services/task-reports.js';
import { jupyterCommand } from '../../../control/services/jupyter.js';
import { splitWords } from '../../../shared/entrypoint.js';
import { harness, type Harness } from '../http/harness.js';
import { waitFor } from '../../helpers/wait.js';

describe('Jupyter services on control', () => {
  let h: Harness;
  let alice: string;
  let bob: string;
  before(async () => {
    h = await harness();
    alice = await h.userKey('alice');
    bob = await h.userKey('bob');
    const w = { id: 'w1', name: 'gpu1', address: '10.0.0.5', status: 'active' } as unknown as Worker;
    await h.control.ctx.store.commit([{ op: 'put', coll: 'workers', value: w }]);
  });
  after(() => h.close());

  const start = async (name: string) => {
    const r = await h.req(alice, { method: 'POST', url: '/v1/jupyter/services', payload: { name } });
    assert.equal(r.statusCode, 201, r.body);
    return r.json<JupyterService>();
  };
  const list = async (key: string) => (await h.req(key, { method: 'GET', url: '/v1/jupyter/services' })).json<JupyterService[]>();
  const find = async (key: string, id: string) => (await list(key)).find((s) => s.id === id);
  /** Records follow task events asynchronously (an event listener commits them). */
  const settle = (id: string, status: JupyterService['status']) =>
    waitFor(async () => {
      const s = await find(alice, id);
      return s?.status === status ? s : undefined;
    }, { what: `service ${id} ${status}`, timeoutMs: 2000, intervalMs: 5 });
  const place = (taskId: string, epoch = 1) => h.control.ctx.tasks.transition(taskId, { status: 'running', worker_id: 'w1', epoch });
  const report = (taskId: string, m: Record<string, unknown>, worker = 'w1', epoch = 1) =>
    applyTaskReport(h.control.ctx, worker, { type: 'task_report', task_id: taskId, epoch, ...m } as never);

  test('start queues a service task for the same user, the token reaches jupyter as JUPYTER_TOKEN', async () => {
    const s = await start('a1');
    const t = h.control.ctx.store.get('tasks', s.task_id!)!;
    assert.equal(t.slot_kind, 'service');
    assert.equal(t.user_id, 'alice');
    assert.equal(s.status, 'starting');
    assert.ok(s.token && s.token.length >= 32);
    const argv = [t.entrypoint!, ...splitWords(t.args!, 'args')];
    assert.equal(argv[0], '/bin/sh');
    assert.equal(argv[1], '-c');
    assert.match(argv[2]!, /exec jupyter notebook .*--port="\$FETCHML_SERVICE_PORT"/);
    assert.match(argv[2]!, new RegExp(`^JUPYTER_TOKEN=${s.token} exec`), 'the token reaches jupyter as JUPYTER_TOKEN');
    assert.equal(jupyterCommand('x').entrypoint, '/bin/sh');
  });

  test('ready report → running at the worker address; token and URL token only for the owner', async () => {
    const s = await start('a2');
    await place(s.task_id!);
    await report(s.task_id!, { service: { port: 8888, state: 'ready' } }, 'w-other');
    assert.equal((await find(alice, s.id))!.status, 'starting', 'another worker is not listened to');
    await report(s.task_id!, { service: { port: 8888, state: 'ready' } }, 'w1', 7);
    assert.equal((await find(alice, s.id))!.status, 'starting', 'a stale epoch is not listened to');
    await report(s.task_id!, { service: { port: 8888, state: 'ready' } });
    const mine = (await find(alice, s.id))!;
    assert.equal(mine.status, 'running');
    assert.equal(mine.worker_id, 'w1');
    assert.equal(mine.url, `http://10.0.0.5:8888/?token=${s.token}`);
    assert.equal((await find(bob, s.id)), undefined, 'bob does not even see it');
    const admin = (await list(h.adminKey)).find((x) => x.id === s.id)!;
    assert.equal(admin.token, undefined, 'admins see the service, not its token');
    assert.equal(admin.url, 'http://10.0.0.5:8888/');
    assert.equal((await h.req(bob, { method: 'DELETE', url: `/v1/jupyter/services/${s.id}` })).statusCode, 404);
  });

  test('stop → stopping (task cancelled) → stopped when the agent says the server is gone', async () => {
    const s = await start('a3');
    await place(s.task_id!);
    await report(s.task_id!, { service: { port: 9999, state: 'ready' } });
    assert.equal((await h.req(alice, { method: 'DELETE', url: `/v1/jupyter/services/${s.id}` })).statusCode, 204);
    assert.equal(h.control.ctx.store.get('tasks', s.task_id!)!.status, 'cancelled');
    const stopping = (await find(alice, s.id))!;
    assert.equal(stopping.status, 'stopping');
    await report(s.task_id!, { service: { port: 9999, state: 'stopped' } });
    const stopped = (await find(alice, s.id))!;
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.url, undefined);
  });

  test('a queued service stops at once; a failed task or a server that never answers is an error; a requeue starts over', async () => {
    const q = await start('a4');
    await h.req(alice, { method: 'DELETE', url: `/v1/jupyter/services/${q.id}` });
    await settle(q.id, 'stopped');

    const f = await start('a5');
    await place(f.task_id!);
    await h.control.ctx.tasks.transition(f.task_id!, { status: 'failed', error: 'entrypoint exited with code 1', failure_kind: 'entrypoint' });
    const failed = await settle(f.id, 'error');
    assert.match(failed.error!, /code 1/);

    const n = await start('a6');
    await place(n.task_id!);
    await report(n.task_id!, { service: { port: 1234, state: 'error', error: 'no answer within 120 s' } });
    assert.equal((await find(alice, n.id))!.status, 'error');

    const r = await start('a7');
    await place(r.task_id!);
    await report(r.task_id!, { service: { port: 1234, state: 'ready' } });
    await h.control.ctx.tasks.transition(r.task_id!, { status: 'queued', worker_id: undefined });
    const again = await settle(r.id, 'starting');
    assert.equal(again.url, undefined);
  });

  test('plugin_status reports: known plugins and statuses only, malformed input dropped', async () => {
    const t = await h.control.ctx.tasks.create({ kind: 'key', key_id: 'k', user_id: 'alice', role: 'user' }, { job_name: 'p', entrypoint: 'true' });
    await place(t.id);
    await report(t.id, { plugin_status: { tensorboard: { status: 'healthy', url: 'http://127.0.0.1:1', last_check: '2026-01-01T00:00:00Z' }, evil: { status: 'healthy' }, mlflow: { status: 'on fire' } } });
    let got: Task = h.control.ctx.store.get('tasks', t.id)!;
    assert.deepEqual(Object.keys(got.plugin_status ?? {}), ['tensorboard']);
    assert.equal(got.plugin_status!.tensorboard!.status, 'healthy');
    for (const junk of [null, 42, 'x', [], { tensorboard: null }, { tensorboard: { status: 7 } }]) await report(t.id, { plugin_status: junk });
    await report(t.id, { service: { port: -1, state: 'ready' } });
    await applyTaskReport(h.control.ctx, 'w1', { type: 'task_report' } as never);
    got = h.control.ctx.store.get('tasks', t.id)!;
    assert.equal(got.plugin_status!.tensorboard!.status, 'healthy', 'junk changes nothing');
    const health = (await h.req(alice, { method: 'GET', url: '/v1/tasks/' + t.id })).json<Task>();
    assert.equal(health.plugin_status!.tensorboard!.url, 'http://127.0.0.1:1');
  });
});

/**
 * Jupyter through the API against a real agent (process runtime) and the real `jupyter notebook`:
 * POST starts a service task, the agent picks a port and probes it, control publishes the URL with
 * the token; the server answers with the token and refuses without; another user neither sees the
 * token nor can stop it; DELETE stops the task and the server goes away.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { JupyterService, Task } from '../../shared/api-types.js';
import { onPath } from '../../agent/plugins/sidecars.js';
import { waitFor } from '../helpers/wait.js';
import { startCluster, type Cluster } from './agent-cluster.js';

const haveJupyter = await onPath('jupyter-notebook');
const skip = haveJupyter ? false : 'jupyter notebook is not installed (.ci/run installs jupyter-notebook)';

describe('Jupyter services', { skip }, () => {
  let c: Cluster;
  let alice: string;
  let bob: string;
  const as = async <T>(key: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${c.url}${path}`, { method, headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const keyFor = async (user: string) => {
    const r = await c.api<{ key: string }>('POST', '/v1/keys', { user_id: user, role: 'user' });
    assert.equal(r.status, 201);
    return r.body.key;
  };

  before(async () => {
    c = await startCluster();
    c.startAgent('svc', { args: ['--service-slots', '2'] });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'an active worker', timeoutMs: 15_000 });
    alice = await keyFor('alice');
    bob = await keyFor('bob');
  });
  after(() => c.close());

  test('start → running with a tokened URL; other users cannot see the token or stop it; DELETE stops the server', async () => {
    const created = await as<JupyterService>(alice, 'POST', '/v1/jupyter/services', { name: 'nb1' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'starting');
    assert.match(created.body.token ?? '', /^[0-9a-f]{32,}$/, 'the owner gets a token of at least 128 bits');
    assert.equal(created.body.image, 'jupyter/pytorch-notebook:latest', 'the seed default maps to the configured image');
    const taskId = created.body.task_id!;
    const task = await as<Task>(alice, 'GET', `/v1/tasks/${taskId}`);
    assert.equal(task.body.slot_kind, 'service');
    assert.equal(task.body.user_id, 'alice');

    const running = await waitFor(
      async () => {
        const s = (await as<JupyterService[]>(alice, 'GET', '/v1/jupyter/services')).body.find((x) => x.id === created.body.id);
        if (s?.status === 'error') throw new Error(`service failed: ${s.error}`);
        return s?.status === 'running' ? s : undefined;
      },
      { what: 'the service to be running', timeoutMs: 15_000 },
    );
    const url = new URL(running.url!);
    assert.equal(url.searchParams.get('token'), created.body.token);
    const worker = (await c.workers()).find((w) => w.id === running.worker_id)!;
    assert.equal(url.hostname, worker.address, 'the URL names the agent host as it advertises itself');
    // Reached through loopback: the test host's own name need not resolve on every CI machine.
    const base = `http://127.0.0.1:${url.port}`;
    const withToken = await fetch(`${base}/api/contents?token=${created.body.token}`);
    assert.equal(withToken.status, 200);
    assert.equal((await fetch(`${base}/api?token=${created.body.token}`)).status, 200);
    const noToken = await fetch(`${base}/api/contents`);
    assert.equal(noToken.status, 403, 'without the token the server refuses');
    const badToken = await fetch(`${base}/api/contents?token=not-${created.body.token}`);
    assert.equal(badToken.status, 403);

    // BOLA: bob neither lists it nor stops it; an admin sees it, without the token.
    const bobList = await as<JupyterService[]>(bob, 'GET', '/v1/jupyter/services');
    assert.equal(bobList.body.some((s) => s.id === created.body.id), false);
    assert.equal((await as(bob, 'DELETE', `/v1/jupyter/services/${created.body.id}`)).status, 404);
    assert.equal((await as(bob, 'DELETE', `/v1/tasks/${taskId}`)).status, 404);
    const adminView = (await c.api<JupyterService[]>('GET', '/v1/jupyter/services')).body.find((s) => s.id === created.body.id)!;
    assert.equal(adminView.token, undefined);
    assert.equal(adminView.url, `${url.origin}/`);
    assert.equal((await fetch(`${base}/api/contents`)).status, 403, 'still up after the refused stop');

    assert.equal((await as(alice, 'DELETE', `/v1/jupyter/services/${created.body.id}`)).status, 204);
    const stopped = await waitFor(
      async () => {
        const s = (await as<JupyterService[]>(alice, 'GET', '/v1/jupyter/services')).body.find((x) => x.id === created.body.id);
        return s?.status === 'stopped' ? s : undefined;
      },
      { what: 'the service to be stopped', timeoutMs: 10_000 },
    );
    assert.equal(stopped.url, undefined);
    await assert.rejects(fetch(`${base}/api`), 'the server is gone');
    assert.equal((await c.task(taskId)).status, 'cancelled');
    assert.equal((await as(alice, 'DELETE', `/v1/jupyter/services/${created.body.id}`)).status, 204, 'stopping again is harmless');
  });

  test('a workspace must be an uploaded snapshot id; bad input is refused', async () => {
    const bad = await as<{ code: string; error: string }>(alice, 'POST', '/v1/jupyter/services', { name: 'nb2', workspace: '../../etc' });
    assert.equal(bad.status, 422);
    assert.match(bad.body.error, /workspace/);
    const missing = await as<{ code: string }>(alice, 'POST', '/v1/jupyter/services', { name: 'nb3', workspace: 'a'.repeat(64) });
    assert.equal(missing.status, 422);
    assert.equal((await as(alice, 'POST', '/v1/jupyter/services', { name: 'bad name!' })).status, 422);
    assert.equal((await as(alice, 'DELETE', '/v1/jupyter/services/no-such-id')).status, 404);
  });

  test('cancelling its task directly stops the service', async () => {
    const created = await as<JupyterService>(alice, 'POST', '/v1/jupyter/services', { name: 'nb4' });
    assert.equal((await as(alice, 'DELETE', `/v1/tasks/${created.body.task_id}`)).status, 204);
    const s = await waitFor(
      async () => (await as<JupyterService[]>(alice, 'GET', '/v1/jupyter/services')).body.find((x) => x.id === created.body.id && (x.status === 'stopped' || x.status === 'error')),
      { what: 'the service to end' },
    );
    assert.equal(s.status, 'stopped');
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, type Harness } from './harness.js';

describe('auth, roles, BOLA, mass assignment', () => {
  let h: Harness;
  let alice: string;
  let bob: string;
  before(async () => {
    h = await harness();
    alice = await h.userKey('alice');
    bob = await h.userKey('bob');
  });
  after(() => h.close());

  test('missing and wrong keys answer 401 and are audited', async () => {
    const before = h.control.ctx.store.auditEvents({ event_type: 'auth_attempt', limit: 1000, offset: 0 }).total;
    for (const key of [undefined, 'wrong', alice.slice(0, -1), `${alice}x`]) {
      const r = await h.req(key, { method: 'GET', url: '/v1/tasks' });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().code, 'UNAUTHORIZED');
      assert.equal(r.headers['x-trace-id'], r.json().trace_id);
    }
    const events = h.control.ctx.store.auditEvents({ event_type: 'auth_attempt', limit: 1000, offset: 0 });
    assert.equal(events.total - before, 4);
    assert.equal(events.events.at(-1)?.success, false);
  });

  test('keys are stored only as hashes', () => {
    for (const k of h.control.ctx.store.values('keys')) {
      assert.match(k.key_hash, /^[0-9a-f]{64}$/);
      assert.ok(!JSON.stringify(k).includes(alice));
    }
  });

  test('the agent token is not an API key, and an API key is not the agent token', async () => {
    assert.equal((await h.req(h.agentToken, { method: 'GET', url: '/v1/tasks' })).statusCode, 401);
    const r = await h.req(undefined, { method: 'GET', url: '/v1/tasks', headers: { authorization: `Bearer ${h.agentToken}` } });
    assert.equal(r.statusCode, 401);
  });

  test('admin-only endpoints answer 403 to users', async () => {
    for (const [method, url] of [
      ['GET', '/v1/plugins'],
      ['PUT', '/v1/plugins/mlflow/config'],
      ['GET', '/v1/scheduler/status'],
      ['DELETE', '/v1/scheduler/workers/x'],
      ['GET', '/v1/audit/events'],
      ['POST', '/v1/audit/verify'],
      ['GET', '/v1/keys'],
      ['POST', '/v1/keys'],
      ['DELETE', '/v1/keys/x'],
    ] as const) {
      const r = await h.req(alice, { method, url, payload: {} });
      assert.equal(r.statusCode, 403, `${method} ${url}`);
      assert.equal(r.json().code, 'FORBIDDEN');
    }
  });

  test("another user's task, logs and cancel answer 404; listing shows only one's own", async () => {
    const t = (await h.req(alice, { method: 'POST', url: '/v1/tasks', payload: { job_name: 'mine' } })).json();
    for (const [method, url] of [
      ['GET', `/v1/tasks/${t.id}`],
      ['GET', `/v1/tasks/${t.id}/logs`],
      ['DELETE', `/v1/tasks/${t.id}`],
    ] as const) {
      const r = await h.req(bob, { method, url });
      assert.equal(r.statusCode, 404, `${method} ${url}`);
    }
    const unknown = await h.req(bob, { method: 'GET', url: '/v1/tasks/does-not-exist' });
    assert.deepEqual(Object.keys(unknown.json()).sort(), ['code', 'error', 'trace_id']);
    assert.equal(unknown.json().error, (await h.req(bob, { method: 'GET', url: `/v1/tasks/${t.id}` })).json().error, 'no existence leak');
    const bobs = (await h.req(bob, { method: 'GET', url: '/v1/tasks?user_id=alice' })).json();
    assert.equal(bobs.total, 0, 'a user cannot list another user with ?user_id');
    const admin = (await h.req(h.adminKey, { method: 'GET', url: '/v1/tasks?user_id=alice' })).json();
    assert.ok(admin.total >= 1 && admin.tasks.every((x: { user_id: string }) => x.user_id === 'alice'));
    assert.equal((await h.req(h.adminKey, { method: 'GET', url: `/v1/tasks/${t.id}` })).statusCode, 200);
    assert.equal((await h.req(alice, { method: 'GET', url: `/v1/tasks/${t.id}` })).json().status, 'queued');
  });

  test('server-owned fields in a create body are refused (422), never applied', async () => {
    for (const field of ['status', 'user_id', 'worker_id', 'retry_count', 'created_at', 'started_at', 'ended_at', 'id', 'epoch']) {
      const r = await h.req(alice, { method: 'POST', url: '/v1/tasks', payload: { job_name: 'x', [field]: field === 'retry_count' || field === 'epoch' ? 9 : 'evil' } });
      assert.equal(r.statusCode, 422, field);
      assert.match(r.json().error, new RegExp(field));
    }
    const all = [...h.control.ctx.store.values('tasks')];
    assert.ok(all.every((t) => t.user_id === 'alice' && t.retry_count === 0 && t.status === 'queued'));
  });

  test('FETCHML_ADMIN_KEY bootstraps an admin key with exactly that value', async () => {
    await h.control.keys.bootstrapAdmin('my-chosen-admin-key-0123456789');
    await h.control.keys.bootstrapAdmin('my-chosen-admin-key-0123456789');
    const r = await h.req('my-chosen-admin-key-0123456789', { method: 'GET', url: '/v1/keys' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().length, [...h.control.ctx.store.values('keys')].length);
    const admins = [...h.control.ctx.store.values('keys')].filter((k) => k.role === 'admin');
    assert.equal(admins.length, 2, 'idempotent: the generated one plus the env one');
  });

  test('users see and stop only their own Jupyter services', async () => {
    const s = (await h.req(alice, { method: 'POST', url: '/v1/jupyter/services', payload: { name: 'nb' } })).json();
    assert.equal((await h.req(bob, { method: 'DELETE', url: `/v1/jupyter/services/${s.id}` })).statusCode, 404);
    assert.ok(!(await h.req(bob, { method: 'GET', url: '/v1/jupyter/services' })).json().some((x: { id: string }) => x.id === s.id));
  });
});

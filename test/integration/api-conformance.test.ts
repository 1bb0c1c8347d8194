/**
 * Conformance: every operation of control/openapi.yaml is called (success and error paths) and each
 * JSON response body is validated against the spec's schema for that status code. A status the
 * spec does not declare for the operation fails the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import WebSocket from 'ws';
import { loadSpec, type SpecOperation } from '../../control/http/spec.js';
import { harness, type Harness } from '../unit/http/harness.js';

const addFormats = addFormatsImport as unknown as (a: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
const spec = loadSpec();
const seen = new Map<string, Set<number>>();

function opFor(method: string, url: string): SpecOperation {
  const path = url.split('?')[0]!;
  const op = spec.operations.find((o) => o.method === method && new RegExp(`^${o.url.replace(/:[^/]+/g, '[^/]+')}$`).test(path));
  assert.ok(op, `no spec operation for ${method} ${path}`);
  return op;
}

function check(op: SpecOperation, status: number, contentType: string | undefined, body: string) {
  assert.ok(String(status) in op.responses, `${op.operationId} answered ${status}, which the spec does not declare: ${body.slice(0, 200)}`);
  if (!seen.has(op.operationId)) seen.set(op.operationId, new Set());
  seen.get(op.operationId)!.add(status);
  const schema = op.responses[String(status)];
  if (schema && contentType?.includes('application/json')) {
    const validate = ajv.compile(schema);
    const ok = validate(JSON.parse(body));
    assert.ok(ok, `${op.operationId} ${status} body does not match the spec: ${ajv.errorsText(validate.errors)}\n${body.slice(0, 500)}`);
  }
  if (status >= 400 && op.method !== 'HEAD') assert.ok(schema, `${op.operationId} ${status} has no error schema`);
}

let h: Harness;
let user: string;
let other: string;
let base: string;

async function call(key: string | undefined, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) {
  const op = opFor(method, url);
  const r = await h.req(key, { method: method as 'GET', url, ...(payload !== undefined ? { payload: payload as object } : {}), headers });
  check(op, r.statusCode, r.headers['content-type'] as string | undefined, r.body);
  return r;
}
const expect = async (status: number, ...args: Parameters<typeof call>) => {
  const r = await call(...args);
  assert.equal(r.statusCode, status, `${args[1]} ${args[2]}: ${r.body.slice(0, 300)}`);
  return r;
};

describe('every operation of the spec', () => {
  before(async () => {
    h = await harness();
    user = await h.userKey('alice');
    other = await h.userKey('bob');
    base = await h.control.listen();
    await h.control.ctx.store.commit([
      {
        op: 'put',
        coll: 'workers',
        value: {
          id: 'w1',
          name: 'gpu-1',
          status: 'active',
          capabilities: { gpu_count: 2, gpu_type: 'A100', cpu_cores: 16, memory_gb: 64 },
          slots: { batch_available: 2, batch_total: 2, service_available: 1, service_total: 1 },
          active_tasks: [],
        },
      },
    ]);
  });
  after(() => h.close());

  test('system', async () => {
    await expect(200, undefined, 'GET', '/health');
    const y = await expect(200, undefined, 'GET', '/openapi.yaml');
    assert.match(y.body, /operationId: createTask/);
    const m = await expect(200, undefined, 'GET', '/metrics');
    assert.match(m.body, /fetchml_http_requests_total/);
    await expect(400, user, 'GET', '/ws');
    await expect(401, undefined, 'GET', '/ws');
  });

  test('tasks, logs, queue', async () => {
    const created = await expect(201, user, 'POST', '/v1/tasks', {
      job_name: 'train-1',
      args: '--epochs 3',
      metadata: { team: 'vision' },
      dataset_specs: [{ name: 'mnist', source: 'https://example.com/mnist.tgz', sha256: 'a'.repeat(64) }],
      plugin_configs: { mlflow: { enabled: true, mode: 'remote', settings: { tracking_uri: 'http://mlflow' } } },
      gpu: 1,
      gpu_type: 'A100',
      node_count: 2,
      max_retries: 1,
    });
    const t = created.json();
    assert.equal(t.priority, 5);
    assert.deepEqual(t.metadata, { team: 'vision' });
    await expect(422, user, 'POST', '/v1/tasks', { job_name: 'bad name' });
    await expect(400, user, 'POST', '/v1/tasks', '{"job_name":', { 'content-type': 'application/json' });
    await expect(413, user, 'POST', '/v1/tasks', { job_name: 'x', args: 'a'.repeat(2 * 1024 * 1024) });
    await expect(401, undefined, 'POST', '/v1/tasks', { job_name: 'x' });
    const batch = await expect(201, user, 'POST', '/v1/tasks/batch', { tasks: [{ job_name: 'b1' }, { job_name: 'b2', priority: 9 }] });
    assert.equal(batch.json().tasks.length, 2);
    await expect(422, user, 'POST', '/v1/tasks/batch', { tasks: [{ job_name: 'ok' }, { job_name: 'x', priority: 0 }] });
    const list = await expect(200, user, 'GET', '/v1/tasks?limit=2&offset=0');
    assert.equal(list.json().total, 3);
    await expect(200, user, 'GET', '/v1/tasks?status=cancelled');
    await expect(400, user, 'GET', '/v1/tasks?limit=0');
    await expect(400, user, 'GET', '/v1/tasks?status=bogus');
    await expect(200, user, 'GET', `/v1/tasks/${t.id}`);
    await expect(404, other, 'GET', `/v1/tasks/${t.id}`);
    await h.control.ctx.logs.append(t.id, 0, 'hello\n');
    const logs = await expect(200, user, 'GET', `/v1/tasks/${t.id}/logs`);
    assert.equal(logs.body, 'hello\n');
    await expect(404, other, 'GET', `/v1/tasks/${t.id}/logs`);
    await expect(400, user, 'GET', `/v1/tasks/${t.id}/logs?follow=maybe`);
    await expect(200, user, 'GET', '/v1/queue');
    await expect(401, undefined, 'GET', '/v1/queue');
    await expect(204, user, 'DELETE', `/v1/tasks/${t.id}`);
    await expect(409, user, 'DELETE', `/v1/tasks/${t.id}`);
    await expect(404, other, 'DELETE', `/v1/tasks/${batch.json().tasks[0].id}`);
    const stream = await expect(200, user, 'GET', `/v1/tasks/${t.id}/logs?follow=true`);
    assert.equal(stream.body, 'hello\n', 'a finished task streams its log and ends');
  });

  test('experiments and jupyter', async () => {
    const e = (await expect(201, user, 'POST', '/v1/experiments', { name: 'exp', description: 'first' })).json();
    assert.equal(e.description, 'first');
    await expect(422, user, 'POST', '/v1/experiments', { name: 'x'.repeat(129) });
    await expect(200, user, 'GET', '/v1/experiments');
    await expect(401, undefined, 'GET', '/v1/experiments');
    await expect(401, undefined, 'GET', '/v1/jupyter/services');
    await expect(200, user, 'GET', `/v1/experiments/${e.id}`);
    await expect(404, other, 'GET', `/v1/experiments/${e.id}`);
    await expect(204, user, 'DELETE', `/v1/experiments/${e.id}`);
    await expect(404, user, 'DELETE', '/v1/experiments/nope');
    const s = (await expect(201, user, 'POST', '/v1/jupyter/services', { name: 'nb' })).json();
    assert.ok(s.token);
    await expect(422, user, 'POST', '/v1/jupyter/services', {});
    const mine = (await expect(200, user, 'GET', '/v1/jupyter/services')).json();
    assert.equal(mine[0].token, s.token);
    const adminView = (await expect(200, h.adminKey, 'GET', '/v1/jupyter/services')).json();
    assert.equal(adminView[0].token, undefined, 'the token is shown to its owner only');
    assert.deepEqual((await expect(200, other, 'GET', '/v1/jupyter/services')).json(), []);
    await expect(404, other, 'DELETE', `/v1/jupyter/services/${s.id}`);
    await expect(204, user, 'DELETE', `/v1/jupyter/services/${s.id}`);
  });

  test('plugins', async () => {
    await expect(200, h.adminKey, 'GET', '/v1/plugins');
    await expect(403, user, 'GET', '/v1/plugins');
    await expect(200, h.adminKey, 'GET', '/v1/plugins/mlflow');
    await expect(404, h.adminKey, 'GET', '/v1/plugins/nope');
    const p = (await expect(200, h.adminKey, 'PUT', '/v1/plugins/mlflow/config', { enabled: true, mode: 'remote', settings: { tracking_uri: 'http://m' } })).json();
    assert.equal(p.enabled, true);
    await expect(422, h.adminKey, 'PUT', '/v1/plugins/mlflow/config', { mode: 'bogus' });
    await expect(404, h.adminKey, 'PUT', '/v1/plugins/nope/config', {});
    assert.equal((await expect(200, h.adminKey, 'GET', '/v1/plugins/mlflow/config')).json().mode, 'remote');
    await expect(404, h.adminKey, 'GET', '/v1/plugins/nope/config');
    assert.equal((await expect(200, h.adminKey, 'GET', '/v1/plugins/mlflow/health')).json().status, 'healthy');
    await expect(404, h.adminKey, 'GET', '/v1/plugins/nope/health');
    await expect(204, h.adminKey, 'DELETE', '/v1/plugins/mlflow/config');
    assert.equal((await expect(200, h.adminKey, 'GET', '/v1/plugins/mlflow/health')).json().status, 'unhealthy');
    await expect(404, h.adminKey, 'DELETE', '/v1/plugins/nope/config');
    await expect(204, h.adminKey, 'DELETE', '/v1/plugins/wandb');
    await expect(404, h.adminKey, 'DELETE', '/v1/plugins/nope');
  });

  test('scheduler', async () => {
    await expect(200, h.adminKey, 'GET', '/v1/scheduler/status');
    await expect(403, user, 'GET', '/v1/scheduler/status');
    await expect(200, h.adminKey, 'GET', '/v1/scheduler/workers');
    await expect(403, user, 'GET', '/v1/scheduler/workers');
    await expect(403, user, 'GET', '/v1/scheduler/reservations');
    await expect(200, h.adminKey, 'GET', '/v1/scheduler/workers/w1');
    await expect(404, h.adminKey, 'GET', '/v1/scheduler/workers/nope');
    await expect(204, h.adminKey, 'DELETE', '/v1/scheduler/workers/w1');
    assert.equal((await expect(200, h.adminKey, 'GET', '/v1/scheduler/workers/w1')).json().status, 'draining');
    await expect(404, h.adminKey, 'DELETE', '/v1/scheduler/workers/nope');
    assert.equal((await expect(200, h.adminKey, 'POST', '/v1/scheduler/workers/w1/undrain')).json().status, 'active');
    await expect(404, h.adminKey, 'POST', '/v1/scheduler/workers/nope/undrain');
    const r = (await expect(201, h.adminKey, 'POST', '/v1/scheduler/reservations', { gpu_count: 2 })).json();
    assert.equal(r.node_count, 1);
    await expect(422, h.adminKey, 'POST', '/v1/scheduler/reservations', { gpu_count: 0 });
    await expect(200, h.adminKey, 'GET', '/v1/scheduler/reservations');
    await expect(204, h.adminKey, 'DELETE', `/v1/scheduler/reservations/${r.id}`);
    await expect(404, h.adminKey, 'DELETE', '/v1/scheduler/reservations/nope');
    const t = (await expect(201, user, 'POST', '/v1/tasks', { job_name: 'prio' })).json();
    assert.equal((await expect(200, h.adminKey, 'PATCH', `/v1/scheduler/jobs/${t.id}/priority`, { priority: 10 })).json().priority, 10);
    await expect(422, h.adminKey, 'PATCH', `/v1/scheduler/jobs/${t.id}/priority`, { priority: 11 });
    await expect(404, h.adminKey, 'PATCH', '/v1/scheduler/jobs/nope/priority', { priority: 3 });
    await expect(404, h.adminKey, 'GET', '/v1/scheduler/jobs/nope/stream');
    await expect(204, user, 'DELETE', `/v1/tasks/${t.id}`);
    await expect(409, h.adminKey, 'PATCH', `/v1/scheduler/jobs/${t.id}/priority`, { priority: 3 });
    const js = await expect(200, h.adminKey, 'GET', `/v1/scheduler/jobs/${t.id}/stream`);
    assert.match(js.body, /event: task\ndata: \{.*"status":"cancelled"/);
    await expect(403, user, 'GET', '/v1/scheduler/status/stream');
    // The status stream never ends by itself: read its first event over a real socket.
    const res = await fetch(`${base}/v1/scheduler/status/stream`, { headers: { 'x-api-key': h.adminKey } });
    check(opFor('GET', '/v1/scheduler/status/stream'), res.status, res.headers.get('content-type') ?? undefined, '');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('event: status')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  });

  test('audit', async () => {
    const ev = (await expect(200, h.adminKey, 'GET', '/v1/audit/events?event_type=job_queued&limit=5')).json();
    assert.ok(ev.events.every((e: { event_type: string }) => e.event_type === 'job_queued'));
    await expect(400, h.adminKey, 'GET', '/v1/audit/events?event_type=made_up');
    await expect(403, user, 'GET', '/v1/audit/events');
    const root = (await expect(200, h.adminKey, 'GET', '/v1/audit/chain-root')).json();
    await expect(403, user, 'GET', '/v1/audit/chain-root');
    const v = (await expect(200, h.adminKey, 'POST', '/v1/audit/verify', { checkpoint: { root_hash: root.root_hash, total_events: root.total_events } })).json();
    assert.equal(v.valid, true);
    assert.equal(v.checkpoint_valid, true);
    await expect(200, h.adminKey, 'POST', '/v1/audit/verify');
    await expect(422, h.adminKey, 'POST', '/v1/audit/verify', { root_hash: 'zz' });
    await expect(403, user, 'POST', '/v1/audit/verify');
  });

  test('keys', async () => {
    const k = (await expect(201, h.adminKey, 'POST', '/v1/keys', { user_id: 'carol', role: 'user' })).json();
    assert.ok(k.key.length >= 32);
    await expect(200, k.key, 'GET', '/v1/tasks');
    await expect(422, h.adminKey, 'POST', '/v1/keys', { user_id: 'carol', role: 'root' });
    await expect(403, user, 'POST', '/v1/keys', { user_id: 'carol', role: 'admin' });
    await expect(403, user, 'GET', '/v1/keys');
    const list = (await expect(200, h.adminKey, 'GET', '/v1/keys')).json();
    assert.ok(list.every((x: { key?: string; key_hash?: string }) => x.key === undefined && x.key_hash === undefined));
    await expect(204, h.adminKey, 'DELETE', `/v1/keys/${k.id}`);
    await expect(401, k.key, 'GET', '/v1/tasks');
    await expect(404, h.adminKey, 'DELETE', `/v1/keys/${k.id}`);
  });

  test('snapshots', async () => {
    const bytes = Buffer.from('not really a tarball');
    const sha = createHash('sha256').update(bytes).digest('hex');
    const put = (body: Buffer, name = sha) => call(user, 'PUT', `/v1/snapshots/${name}`, body, { 'content-type': 'application/octet-stream' });
    await expect(404, user, 'HEAD', `/v1/snapshots/${sha}`);
    assert.equal((await put(bytes)).statusCode, 201);
    assert.equal((await put(bytes)).statusCode, 200);
    assert.equal((await put(Buffer.from('other'))).statusCode, 422);
    assert.equal((await put(bytes, 'nothex')).statusCode, 400);
    await expect(200, user, 'HEAD', `/v1/snapshots/${sha}`);
    await expect(403, user, 'GET', `/v1/snapshots/${sha}`);
    const got = await expect(200, undefined, 'GET', `/v1/snapshots/${sha}`, undefined, { authorization: `Bearer ${h.agentToken}` });
    assert.equal(got.rawPayload.toString(), bytes.toString());
    await expect(401, undefined, 'GET', `/v1/snapshots/${sha}`, undefined, { authorization: 'Bearer wrong' });
    await expect(404, h.adminKey, 'GET', `/v1/snapshots/${'0'.repeat(64)}`);
    const audit = h.control.ctx.store.auditEvents({ event_type: 'file_access', limit: 10, offset: 0 });
    assert.equal(audit.events.at(-1)?.resource, `snapshot:${sha}`);
  });

  test('the /ws upgrade answers 101 with a key', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`, { headers: { 'x-api-key': user } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.close();
    seen.get('connectWebSocket')?.add(101);
  });

  test('every operation was called with a success and an error status', () => {
    for (const op of spec.operations) {
      const statuses = [...(seen.get(op.operationId) ?? [])];
      if (op.operationId === 'getHealth' || op.operationId === 'getOpenApiSpec' || op.operationId === 'getMetrics') {
        assert.ok(statuses.includes(200), op.operationId);
        continue;
      }
      assert.ok(statuses.some((s) => s < 300), `${op.operationId} never succeeded (${statuses.join(',')})`);
      assert.ok(statuses.some((s) => s >= 400), `${op.operationId} never failed (${statuses.join(',')})`);
    }
  });
});

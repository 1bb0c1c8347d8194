import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, type Harness } from './harness.js';

describe('request validation: every bad input is a 4xx, never a 5xx', () => {
  let h: Harness;
  let key: string;
  before(async () => {
    h = await harness();
    key = await h.userKey('val');
  });
  after(() => h.close());

  const post = (payload: unknown, headers: Record<string, string> = {}) =>
    h.req(key, { method: 'POST', url: '/v1/tasks', payload: payload as string, headers });

  const cases: Array<[string, unknown, number, RegExp]> = [
    ['priority 0', { job_name: 'a', priority: 0 }, 422, /priority/],
    ['priority 11', { job_name: 'a', priority: 11 }, 422, /priority/],
    ['priority as a string', { job_name: 'a', priority: '5' }, 422, /priority/],
    ['priority fractional', { job_name: 'a', priority: 5.5 }, 422, /priority/],
    ['job_name missing', { priority: 5 }, 422, /job_name/],
    ['job_name with a space', { job_name: 'a b' }, 422, /job_name/],
    ['job_name with a slash', { job_name: '../etc' }, 422, /job_name/],
    ['job_name 65 chars', { job_name: 'a'.repeat(65) }, 422, /job_name/],
    ['job_name empty', { job_name: '' }, 422, /job_name/],
    ['gpu negative', { job_name: 'a', gpu: -1 }, 422, /gpu/],
    ['cpu as string', { job_name: 'a', cpu: 'four' }, 422, /cpu/],
    ['datasets not an array', { job_name: 'a', datasets: 'x' }, 422, /datasets/],
    ['dataset spec without source', { job_name: 'a', dataset_specs: [{ name: 'd' }] }, 422, /source/],
    ['dataset sha256 not hex', { job_name: 'a', dataset_specs: [{ name: 'd', source: 's', sha256: 'xyz' }] }, 422, /sha256/],
    ['metadata value not a string', { job_name: 'a', metadata: { a: 1 } }, 422, /metadata/],
    ['node_count 0', { job_name: 'a', node_count: 0 }, 422, /node_count/],
    ['unknown field', { job_name: 'a', color: 'red' }, 422, /color/],
    ['unknown reservation', { job_name: 'a', reservation_id: 'nope' }, 422, /reservation_id/],
    ['unknown experiment', { job_name: 'a', experiment_id: 'nope' }, 422, /experiment_id/],
    ['entrypoint with a shell variable', { job_name: 'a', entrypoint: 'echo $HOME' }, 422, /entrypoint .*shell syntax.*\/bin\/bash -c/],
    ['args with a shell operator', { job_name: 'a', entrypoint: 'train.py', args: '--lr 1 ; rm -rf /' }, 422, /args .*shell syntax/],
    ['args with backticks and no entrypoint', { job_name: 'a', args: '`id`' }, 422, /args/],
    ['entrypoint with an unclosed quote', { job_name: 'a', entrypoint: 'python "train.py' }, 422, /entrypoint/],
    ['body is an array', [1, 2], 422, /body/],
    ['body is a string', '"x"', 422, /body/],
    ['body is null', 'null', 422, /body/],
  ];
  for (const [name, payload, status, field] of cases) {
    test(name, async () => {
      const r = await post(payload, typeof payload === 'string' ? { 'content-type': 'application/json' } : {});
      assert.equal(r.statusCode, status, r.body);
      assert.equal(r.json().code, 'VALIDATION_ERROR');
      assert.match(r.json().error, field);
    });
  }

  test('a shell entrypoint with the command quoted is accepted', async () => {
    const r = await post({ job_name: 'a', entrypoint: '/bin/bash -c "python train.py --epochs 10 | tee log"' });
    assert.equal(r.statusCode, 201, r.body);
  });

  test('malformed JSON is 400', async () => {
    for (const body of ['{', '{"job_name": }', 'nul', '\u0000']) {
      const r = await post(body, { 'content-type': 'application/json' });
      assert.equal(r.statusCode, 400, body);
      assert.equal(r.json().code, 'BAD_REQUEST');
    }
  });

  test('a 2 MiB body is 413 with the error shape', async () => {
    const r = await post(JSON.stringify({ job_name: 'a', args: 'x'.repeat(2 * 1024 * 1024) }), { 'content-type': 'application/json' });
    assert.equal(r.statusCode, 413);
    assert.deepEqual(Object.keys(r.json()).sort(), ['code', 'error', 'trace_id']);
  });

  test('an unsupported content type is a 4xx', async () => {
    const r = await post('job_name=a', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.ok(r.statusCode >= 400 && r.statusCode < 500, String(r.statusCode));
    assert.ok(r.json().trace_id);
  });

  test('query parameters out of range are 400', async () => {
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'offset=-1', 'status=bogus']) {
      const r = await h.req(key, { method: 'GET', url: `/v1/tasks?${q}` });
      assert.equal(r.statusCode, 400, q);
      assert.equal(r.json().code, 'BAD_REQUEST');
    }
    assert.equal((await h.req(key, { method: 'GET', url: '/v1/tasks?limit=1000&offset=0' })).statusCode, 200);
  });

  test('unknown ids are 404 and unknown routes 404 in the same shape', async () => {
    for (const url of ['/v1/tasks/nope', '/v1/experiments/nope', '/v1/nothing', '/', '/v1/tasks/%00']) {
      const r = await h.req(key, { method: 'GET', url });
      assert.equal(r.statusCode, 404, url);
      assert.deepEqual(Object.keys(r.json()).sort(), ['code', 'error', 'trace_id']);
      assert.equal(r.json().code, 'NOT_FOUND');
    }
  });

  test('a long id is refused without a 5xx', async () => {
    const r = await h.req(key, { method: 'GET', url: `/v1/tasks/${'a'.repeat(5000)}` });
    assert.ok(r.statusCode === 400 || r.statusCode === 404 || r.statusCode === 414, String(r.statusCode));
  });

  test('random junk bodies on every JSON endpoint never give a 5xx', async () => {
    const admin = h.adminKey;
    const junk = ['{}', '[]', '1', '"s"', 'true', '{"a":{"b":{"c":[1,{"d":null}]}}}', '{"priority":1e309}', '{"__proto__":{"x":1}}'];
    const targets = [
      ['POST', '/v1/tasks'],
      ['POST', '/v1/tasks/batch'],
      ['POST', '/v1/experiments'],
      ['POST', '/v1/jupyter/services'],
      ['PUT', '/v1/plugins/mlflow/config'],
      ['POST', '/v1/scheduler/reservations'],
      ['PATCH', '/v1/scheduler/jobs/x/priority'],
      ['POST', '/v1/audit/verify'],
      ['POST', '/v1/keys'],
    ] as const;
    for (const [method, url] of targets) {
      for (const body of junk) {
        const r = await h.req(admin, { method, url, payload: body, headers: { 'content-type': 'application/json' } });
        assert.ok(r.statusCode < 500, `${method} ${url} ${body} → ${r.statusCode} ${r.body}`);
      }
    }
  });
});

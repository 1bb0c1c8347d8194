/** runControl: first start creates the admin key and agent token (0600), later starts reuse them; logs follow. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { runControl } from '../../control/main.js';
import { tempDir } from '../helpers/tmp.js';

test('first start creates an admin key and agent token with mode 0600; a restart keeps them', async () => {
  await using dir = await tempDir();
  const env = { FETCHML_LOG_LEVEL: 'warn' };
  const c1 = await runControl({ port: 0, dataDir: dir.path, env, quiet: true });
  try {
    assert.ok(c1.adminKey);
    assert.equal((await readFile(join(dir.path, 'admin-key'), 'utf8')).trim(), c1.adminKey);
    assert.equal((await stat(join(dir.path, 'admin-key'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir.path, 'agent-token'))).mode & 0o777, 0o600);
    const r = await request(`${c1.url}/v1/keys`, { headers: { 'x-api-key': c1.adminKey } });
    assert.equal(r.statusCode, 200);
    await r.body.dump();
  } finally {
    await c1.close();
  }
  const c2 = await runControl({ port: 0, dataDir: dir.path, env, quiet: true });
  try {
    assert.equal(c2.adminKey, undefined, 'no second admin key');
    assert.equal(c2.agentToken, c1.agentToken);
    const r = await request(`${c2.url}/v1/keys`, { headers: { 'x-api-key': c1.adminKey } });
    assert.equal(r.statusCode, 200);
    await r.body.dump();
  } finally {
    await c2.close();
  }
});

test('GET /v1/tasks/{id}/logs?follow=true streams until the task is final', async () => {
  await using dir = await tempDir();
  const { harness } = await import('../unit/http/harness.js');
  const h = await harness({ dataDir: dir.path });
  try {
    const base = await h.control.listen();
    const user = await h.userKey('u');
    const t = (await h.req(user, { method: 'POST', url: '/v1/tasks', payload: { job_name: 'logs' } })).json() as { id: string };
    await h.control.ctx.logs.append(t.id, 0, 'line 1\n');
    const res = await fetch(`${base}/v1/tasks/${t.id}/logs?follow=true`, { headers: { 'x-api-key': user } });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = dec.decode((await reader.read()).value);
    assert.equal(text, 'line 1\n');
    await h.control.ctx.logs.append(t.id, 0, 'line 1\n'); // resend: dropped
    await h.control.ctx.logs.append(t.id, 7, 'line 2\n');
    await h.control.ctx.tasks.transition(t.id, { status: 'completed', ended_at: new Date().toISOString() });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value);
    }
    assert.equal(text, 'line 1\nline 2\n');
    const got = (await h.req(user, { method: 'GET', url: `/v1/tasks/${t.id}` })).json() as { output: string };
    assert.equal(got.output, 'line 1\nline 2\n', 'output is the log tail');
  } finally {
    await h.close();
  }
});

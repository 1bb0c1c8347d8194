/**
 * Drain state is stored with the worker: it survives a control restart, and an agent that
 * (re)connects afterwards is told it is draining in its welcome.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
import { runControl } from '../../control/main.js';
import type { Worker } from '../../shared/api-types.js';
import { AGENT_CONNECT_PATH, PROTOCOL_VERSION, type HelloMessage, type WelcomeMessage } from '../../shared/protocol.js';
import { tempDir } from '../helpers/tmp.js';

const ADMIN = 'restart-admin-key-0123456789';
const TOKEN = 'restart-agent-token-0123456789';

/** A minimal agent: says hello, returns the welcome, stays connected until closed. */
async function agentHello(url: string, id: string): Promise<{ welcome: WelcomeMessage; close: () => void }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${AGENT_CONNECT_PATH}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  const hello: HelloMessage = {
    type: 'hello', protocol: PROTOCOL_VERSION, worker_id: id, name: id, address: '127.0.0.1', agent_version: 'test', running: [],
    capabilities: { gpus: [], cpu_cores: 4, memory_gb: 8, hostname: id, runtime: 'process', probe_status: 'no_gpu' }, slots: { batch_total: 1, service_total: 0 },
  };
  ws.send(JSON.stringify(hello));
  const welcome = await new Promise<WelcomeMessage>((resolve) => ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string };
    if (m.type === 'welcome') resolve(m as WelcomeMessage);
  }));
  return { welcome, close: () => ws.terminate() };
}

test('a drained worker is still draining, with its reason and deadline, after control restarts', async () => {
  await using tmp = await tempDir('fetchml-sched-restart-');
  const dataDir = join(tmp.path, 'control');
  const env = { ...process.env, FETCHML_ADMIN_KEY: ADMIN, FETCHML_AGENT_TOKEN: TOKEN, FETCHML_LOG_LEVEL: 'warn' };
  const api = async <T>(url: string, method: string, path: string) => {
    const r = await fetch(`${url}${path}`, { method, headers: { 'x-api-key': ADMIN } });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
  };

  const first = await runControl({ port: 0, dataDir, env, quiet: true });
  const a1 = await agentHello(first.url, 'w-restart');
  assert.equal(a1.welcome.draining, false);
  assert.equal((await api(first.url, 'DELETE', '/v1/scheduler/workers/w-restart?deadline_seconds=3600&reason=rack%20move')).status, 204);
  const before = (await api<Worker>(first.url, 'GET', '/v1/scheduler/workers/w-restart')).body;
  a1.close();
  await first.close();

  const second = await runControl({ port: 0, dataDir, env, quiet: true });
  try {
    const w = (await api<Worker>(second.url, 'GET', '/v1/scheduler/workers/w-restart')).body;
    assert.equal(w.status, 'draining');
    assert.match(w.status_reason ?? '', /rack move/);
    assert.equal(w.drain_deadline, before.drain_deadline);
    const a2 = await agentHello(second.url, 'w-restart');
    assert.equal(a2.welcome.draining, true, 'the reconnecting agent is told it drains');
    assert.equal((await api<Worker>(second.url, 'GET', '/v1/scheduler/workers/w-restart')).body.status, 'draining');
    const undrained = await api<Worker>(second.url, 'POST', '/v1/scheduler/workers/w-restart/undrain');
    assert.equal(undrained.body.status, 'active');
    assert.equal(undrained.body.drain_deadline, undefined);
    a2.close();
  } finally {
    await second.close();
  }
});

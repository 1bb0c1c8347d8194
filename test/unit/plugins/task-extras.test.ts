/** A service task's port, readiness report and stop, with fake probes: what the agent tells control. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extrasDeps, TaskExtras, type ExtrasDeps } from '../../../agent/daemon/service-extras.js';
import { createLogger } from '../../../shared/logger.js';
import type { TaskAssignment, TaskReportMessage } from '../../../shared/protocol.js';

const assignment = (slot: 'service' | 'batch', env: Record<string, string> = {}): TaskAssignment => ({
  task_id: 't1', epoch: 2, job_name: 'j', user_id: 'u', entrypoint: 'x', slot_kind: slot, gpu: 0, env, node_rank: 0, node_count: 1,
});

function deps(answers: number[] | 'refused') {
  const sent: TaskReportMessage[] = [];
  let now = 0;
  let calls = 0;
  const d: ExtrasDeps = {
    send: (m) => (sent.push(m), true),
    logger: createLogger('test', 'silent'),
    clock: { now: () => now },
    sleep: async (ms) => void (now += ms),
    fetch: (async () => {
      if (answers === 'refused') throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      return new Response('', { status: answers[Math.min(calls++, answers.length - 1)] });
    }) as typeof fetch,
    freePort: async () => 40123,
    which: async () => false,
    env: {},
    bind: '0.0.0.0',
    serviceReadyTimeoutMs: 2000,
    sidecarReadyTimeoutMs: 1000,
    checkIntervalMs: 60_000,
    stopGraceMs: 10,
    readyPath: '/api',
  };
  return { d, sent };
}
const settle = () => new Promise((r) => setImmediate(r));

test('a service gets a free port in its env (persisted in the assignment), is reported ready, then stopped', async () => {
  const a = assignment('service');
  const { d, sent } = deps([503, 200]);
  const x = new TaskExtras(a, d);
  const env = await x.prepare({ workspace: '/w', run: '/r', runtime: 'process' });
  assert.deepEqual(env, { FETCHML_SERVICE_PORT: '40123', FETCHML_SERVICE_BIND: '0.0.0.0' });
  assert.equal(a.env.FETCHML_SERVICE_PORT, '40123', 'kept for a restarted agent');
  let stopped = '';
  x.started(async (why) => void (stopped = why));
  for (let i = 0; i < 10 && sent.length === 0; i++) await settle();
  assert.deepEqual(sent[0], { type: 'task_report', task_id: 't1', epoch: 2, service: { port: 40123, state: 'ready' } });
  assert.equal(stopped, '');
  await x.end();
  assert.deepEqual(sent.at(-1)!.service, { port: 40123, state: 'stopped' });
});

test('a service that never answers is reported as an error and stopped', async () => {
  const { d, sent } = deps('refused');
  const x = new TaskExtras(assignment('service', { FETCHML_SERVICE_PORT: '41000' }), d);
  let stopped = '';
  x.started(async (why) => void (stopped = why));
  for (let i = 0; i < 50 && !stopped; i++) await settle();
  assert.match(stopped, /did not answer/);
  assert.equal(sent[0]!.service!.state, 'error');
  assert.equal(sent[0]!.service!.port, 41000, 'the persisted port is probed again');
  assert.match(sent[0]!.service!.error!, /ECONNREFUSED/);
  await x.end();
});

test('a batch task without sidecars gets nothing and sends nothing', async () => {
  const { d, sent } = deps([200]);
  const x = new TaskExtras(assignment('batch'), d);
  assert.deepEqual(await x.prepare({ workspace: '/w', run: '/r', runtime: 'process' }), {});
  x.started(async () => assert.fail('not a service'));
  await x.end();
  assert.deepEqual(sent, []);
});

test('a service ended before it had a port still reports stopped', async () => {
  const { d, sent } = deps([200]);
  await new TaskExtras(assignment('service'), d).end();
  assert.deepEqual(sent, [{ type: 'task_report', task_id: 't1', epoch: 2, service: { port: 0, state: 'stopped' } }]);
});

test('settings from the environment; sidecars never see the agent token', () => {
  const d = extrasDeps(() => true, createLogger('test', 'silent'), {
    env: { PATH: '/bin', FETCHML_AGENT_TOKEN: 'secret', FETCHML_SERVICE_READY_SECONDS: '7', FETCHML_SIDECAR_CHECK_SECONDS: 'junk', FETCHML_SERVICE_BIND: '10.1.2.3' },
  });
  assert.equal(d.env.FETCHML_AGENT_TOKEN, undefined);
  assert.equal(d.env.PATH, '/bin');
  assert.equal(d.serviceReadyTimeoutMs, 7000);
  assert.equal(d.checkIntervalMs, 10_000, 'an unreadable value keeps the default');
  assert.equal(d.bind, '10.1.2.3');
});

test('after an agent restart: recorded sidecars are adopted, reported with their URL, stopped at the end', async () => {
  const a = { ...assignment('batch'), plugin_configs: { tensorboard: { mode: 'sidecar' as const } } };
  const { d, sent } = deps([200]);
  let live = true;
  const signalled: number[] = [];
  // A pid above any pid_max: signalling it can reach no process.
  const saved = [{ name: 'tensorboard', port: 40555, url: 'http://127.0.0.1:40555', pid: 4_194_999, starttime: '123' }];
  const x = new TaskExtras(a, { ...d, which: async () => true, isLive: async (pid, st) => (signalled.push(pid), live && st === '123') });
  assert.deepEqual(await x.resume(JSON.parse(JSON.stringify(saved)), { workspace: '/w', run: '/r', runtime: 'process' }), saved, 'the same process is kept');
  assert.equal(sent.at(-1)!.plugin_status!.tensorboard!.status, 'healthy');
  assert.equal(sent.at(-1)!.plugin_status!.tensorboard!.url, 'http://127.0.0.1:40555');
  assert.ok(signalled.includes(4_194_999));
  live = false;
  await x.end();
  assert.equal(sent.at(-1)!.plugin_status!.tensorboard!.status, 'stopped');
});

test('after an agent restart: an unreadable sidecar record is reported, never thrown', async () => {
  const a = { ...assignment('batch'), plugin_configs: { tensorboard: { mode: 'sidecar' as const } } };
  const { d, sent } = deps([200]);
  const x = new TaskExtras(a, d);
  assert.deepEqual(await x.resume('junk', { workspace: '/w', run: '/r', runtime: 'process' }), []);
  assert.equal(sent.at(-1)!.plugin_status!.tensorboard!.status, 'unhealthy');
  await x.end();
});

/** The readiness probe (service tasks, sidecars) and the sidecar set's failure paths, with fake clocks and fetch. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { probeOnce, waitUntilUp, type ProbeDeps } from '../../../agent/daemon/service-probe.js';
import { Sidecars } from '../../../agent/plugins/sidecars.js';

function fakes(answers: Array<number | Error>): ProbeDeps & { calls: number; slept: number } {
  let now = 0;
  const d = {
    calls: 0,
    slept: 0,
    clock: { now: () => now },
    sleep: async (ms: number) => {
      now += ms;
      d.slept += ms;
    },
    fetch: (async () => {
      const a = answers[Math.min(d.calls++, answers.length - 1)]!;
      if (a instanceof Error) throw a;
      return new Response('x', { status: a });
    }) as typeof fetch,
  };
  return d;
}

test('up once any answer below 500 comes; refused connections and 5xx keep waiting', async () => {
  const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  const d = fakes([refused, refused, 503, 200]);
  const r = await waitUntilUp('http://127.0.0.1:1/api', { timeoutMs: 10_000, intervalMs: 250 }, d);
  assert.deepEqual(r, { ok: true, status: 200 });
  assert.equal(d.calls, 4);
  assert.equal(d.slept, 750);
  assert.deepEqual(await probeOnce('http://x', fakes([404]).fetch), { ok: true, status: 404 });
});

test('gives up at the deadline with the last reason', async () => {
  const d = fakes([Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })]);
  const r = await waitUntilUp('http://127.0.0.1:1/api', { timeoutMs: 1000, intervalMs: 300 }, d);
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /within 1 s \(ECONNREFUSED\)/);
  assert.ok(d.calls >= 4 && d.calls <= 5);
});

test('an aborted probe stops', async () => {
  const ac = new AbortController();
  ac.abort();
  const r = await waitUntilUp('http://x', { timeoutMs: 1000, intervalMs: 1, signal: ac.signal }, fakes([500]));
  assert.deepEqual(r, { ok: false, reason: 'aborted' });
});

test('sidecars whose tool is missing or unsupported are unhealthy with the reason, and nothing is started', async () => {
  const d = fakes([200]);
  const s = new Sidecars({ ...d, freePort: async () => 5555, which: async () => false, env: {}, readyTimeoutMs: 1000, stopGraceMs: 100 });
  const env = await s.start(
    { tensorboard: { mode: 'sidecar' }, wandb: { mode: 'sidecar' }, mlflow: { mode: 'remote' } },
    { task_id: 't', workspace: '/nonexistent', task_workspace: '/nonexistent', runtime: 'process' },
    '/nonexistent',
  );
  assert.deepEqual(env, {}, 'the task is not pointed at sidecars that are not there');
  assert.equal(s.statuses.tensorboard!.status, 'unhealthy');
  assert.match(s.statuses.tensorboard!.message!, /tensorboard is not installed/);
  assert.match(s.statuses.wandb!.message!, /remote/);
  assert.equal(s.statuses.mlflow, undefined, 'remote plugins have no sidecar');
  assert.equal(d.calls, 0);
  await s.stop();
});

test('a sidecar whose log dir cannot be opened is unhealthy, not a thrown error', async () => {
  const s = new Sidecars({ ...fakes([200]), freePort: async () => 5556, which: async () => true, env: {}, readyTimeoutMs: 100, stopGraceMs: 100 });
  const env = await s.start({ tensorboard: { mode: 'sidecar' } }, { task_id: 't', workspace: '/nonexistent', task_workspace: '/nonexistent', runtime: 'process' }, '/nonexistent/run');
  assert.deepEqual(env, {});
  assert.equal(s.statuses.tensorboard!.status, 'unhealthy');
  assert.match(s.statuses.tensorboard!.message!, /could not start/);
});

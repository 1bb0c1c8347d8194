import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killPrintedPid, startCluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';

test('kill -9 of the agent under 3 running tasks: restart re-attaches, all complete with real exit codes and full logs', async () => {
  const c = await startCluster();
  const logs: string[] = [];
  try {
    let agent = c.startAgent('a', { fixture: '1gpu', args: ['--batch-slots', '3'] });
    await waitFor(async () => (await c.workers()).length === 1, { what: 'worker' });
    const tasks = await Promise.all(
      [0, 4, 9].map((code) => c.submit({ entrypoint: `/bin/sh -c 'echo pid=$$ start ${code}; sleep 2; echo end ${code}; exit ${code}'` })),
    );
    await Promise.all(tasks.map((t) => c.waitStatus(t.id, ['running'])));
    await waitFor(async () => (await Promise.all(tasks.map(async (t) => (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body))).every((l) => /start/.test(l)), { what: 'first lines shipped' });
    agent.child.kill('SIGKILL');
    await agent.exited;
    agent = c.startAgent('a', { fixture: '1gpu', args: ['--batch-slots', '3'] });
    const done = await Promise.all(tasks.map((t) => c.waitStatus(t.id, ['completed', 'failed'], 20_000)));
    for (const [i, code] of [0, 4, 9].entries()) {
      const t = done[i]!;
      assert.equal(t.exit_code, code);
      assert.equal(t.status, code === 0 ? 'completed' : 'failed');
      assert.equal(t.retry_count, 0, 'the task was not restarted');
      const log = (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body;
      logs.push(log);
      assert.match(log, new RegExp(`^pid=\\d+ start ${code}\\nend ${code}\\n$`));
    }
  } finally {
    killPrintedPid(logs.join('\n'));
    await c.close();
  }
});

test('worker loss: an agent killed and not restarted → its task is requeued once with retry_count + 1', async () => {
  const c = await startCluster({ FETCHML_WORKER_TIMEOUT: '1' });
  let log = '';
  try {
    const agent = c.startAgent('lost');
    await waitFor(async () => (await c.workers()).length === 1, { what: 'worker' });
    const t = await c.submit({ entrypoint: "/bin/sh -c 'echo pid=$$; exec sleep 30'", max_retries: 2 });
    await c.waitStatus(t.id, ['running']);
    log = await waitFor(async () => {
      const l = (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body;
      return /pid=/.test(l) ? l : undefined;
    });
    agent.child.kill('SIGKILL');
    const q = await c.waitStatus(t.id, ['queued'], 10_000);
    assert.equal(q.retry_count, 1);
    assert.equal(q.worker_id, undefined);
    assert.match(q.pending_reason ?? '', /lost/);
    const [w] = await c.workers();
    assert.equal(w?.status, 'offline');
    // Exactly once: later checks of the offline worker do not requeue (or count) again.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await c.task(t.id)).retry_count, 1);
  } finally {
    killPrintedPid(log);
    await c.close();
  }
});

/**
 * The CLI's long-running commands as a researcher uses them at a terminal: Ctrl-C (SIGINT) while
 * `fetchml run` follows a task detaches and leaves it running, or cancels it with
 * --cancel-on-interrupt; `scheduler status --watch` streams scheduler events until Ctrl-C.
 * Real CLI processes against a real control and agent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnFetchml, type Spawned } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_KEY, startCliCluster, type CliCluster } from './cli-harness.js';

describe('fetchml at the terminal: Ctrl-C and --watch', () => {
  let c: CliCluster;
  let code: string;
  const running: Spawned[] = [];
  /** A CLI process that keeps running (spawned from the repo, so `--dir` names the code folder). */
  const cli = (args: string[]) => {
    const p = spawnFetchml(args, { env: { FETCHML_URL: c.url, FETCHML_API_KEY: ADMIN_KEY, XDG_CONFIG_HOME: join(c.dir, 'cfg'), NO_COLOR: '1' } });
    running.push(p);
    return p;
  };
  const taskId = async (p: Spawned) => (await p.waitForOutput(/task (\S+) submitted/))[1]!;

  before(async () => {
    c = await startCliCluster({ agent: true });
    code = join(c.dir, 'code');
    await mkdir(code, { recursive: true });
    await writeFile(join(code, 'ticks.py'), 'import time\nfor i in range(40):\n    print("tick", i, flush=True)\n    time.sleep(0.1)\n');
  });
  after(async () => {
    for (const p of running) await p.kill('SIGKILL');
    await c?.close();
  });

  test('Ctrl-C detaches (exit 130) and the task runs on to completion', async () => {
    const run = cli(['run', '--dir', code, 'ticks.py']);
    const id = await taskId(run);
    await run.waitForOutput(/tick 1\b/);
    run.child.kill('SIGINT');
    const { code: exit } = await run.exited;
    assert.equal(exit, 130, run.output());
    assert.match(run.output(), new RegExp(`detached from task ${id}; it keeps running\\. Reattach with: fetchml logs -f ${id}`));
    assert.doesNotMatch(run.output(), /at \S+ \(.*:\d+:\d+\)/, 'no stack trace');
    const t = await c.client.getTask(id);
    assert.ok(['running', 'preparing'].includes(t.status), t.status);
    await waitFor(async () => (await c.client.getTask(id)).status === 'completed', { what: 'the detached task to complete', timeoutMs: 20_000 });
  });

  test('with --cancel-on-interrupt, Ctrl-C cancels the task and the CLI exits 130 once it is cancelled', async () => {
    const run = cli(['run', '--dir', code, '--cancel-on-interrupt', 'ticks.py']);
    const id = await taskId(run);
    await run.waitForOutput(/tick 1\b/);
    run.child.kill('SIGINT');
    await run.waitForOutput(new RegExp(`cancelling task ${id}`));
    const { code: exit } = await run.exited;
    assert.equal(exit, 130, run.output());
    assert.match(run.output(), new RegExp(`task ${id}: cancelled`));
    const t = await c.client.getTask(id);
    assert.equal(t.status, 'cancelled');
    assert.doesNotMatch(await c.client.taskLogs(id), /tick 39/);
  });

  test('scheduler status --watch --json prints the status, then one JSON line per event, until Ctrl-C', async () => {
    const watch = cli(['scheduler', 'status', '--watch', '--json']);
    // The first document is the status itself (pretty-printed JSON), then the stream.
    await watch.waitForOutput(/"workers_total": \d+/);
    const t = await c.client.createTask({ job_name: 'watched', entrypoint: '/bin/true' });
    await watch.waitForOutput(new RegExp(`^\\{"event":"[a-z_]+","data":\\{.*"${t.id}"`, 'm'), 15_000);
    const lines = watch.output().split('\n').filter((l) => l.startsWith('{"event"'));
    for (const l of lines) {
      const e = JSON.parse(l) as { event: string; data: unknown };
      assert.equal(typeof e.event, 'string');
    }
    watch.child.kill('SIGINT');
    const { code: exit } = await watch.exited;
    assert.equal(exit, 0, watch.output());
  });
});

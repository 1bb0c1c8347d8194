/**
 * Plugins on real tasks (control + a real agent, process runtime). Remote mode: the task sees the
 * tools' own variables, with the cluster config merged under the task's. Sidecar mode: a fake
 * `tensorboard` on the agent's PATH (this machine has none) is started next to the task, the task
 * reaches it, Task.plugin_status shows it healthy and then stopped, and the process is gone after.
 * A sidecar whose tool is missing is unhealthy with the reason, and the task still runs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Task } from '../../shared/api-types.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { processAlive } from '../helpers/process.js';
import { startCluster, type Cluster } from './agent-cluster.js';

const FAKE_TENSORBOARD = `#!/usr/bin/env node
// A stand-in for tensorboard: serves 200 on --port until SIGTERM, records its pid.
const http = require('node:http');
const fs = require('node:fs');
const arg = (n) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : undefined; };
fs.writeFileSync(process.env.FAKE_TB_PIDFILE, String(process.pid));
const srv = http.createServer((req, res) => res.end('fake tensorboard logdir=' + arg('--logdir'))).listen(Number(arg('--port')), arg('--host') || '127.0.0.1');
process.on('SIGTERM', () => srv.close(() => process.exit(0)));
`;

describe('plugins on tasks', () => {
  let c: Cluster;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const savedPath = process.env.PATH;
  const log = async (t: Task) => (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body;

  before(async () => {
    tmp = await tempDir('fetchml-plugins-it-');
    await writeFile(join(tmp.path, 'tensorboard'), FAKE_TENSORBOARD);
    await chmod(join(tmp.path, 'tensorboard'), 0o755);
    c = await startCluster();
    // The agent inherits this PATH (its sidecars are looked up on it) and these settings.
    process.env.PATH = `${tmp.path}:${savedPath}`;
    process.env.FAKE_TB_PIDFILE = join(tmp.path, 'tb.pid');
    process.env.FETCHML_SIDECAR_READY_SECONDS = '5';
    c.startAgent('p');
    process.env.PATH = savedPath;
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'an active worker' });
  });
  after(async () => {
    await c.close();
    await tmp[Symbol.asyncDispose]();
  });

  test('remote mode: mlflow, wandb and tensorboard variables', async () => {
    const t = await c.submit({
      entrypoint: `/bin/sh -c 'echo MLFLOW=$MLFLOW_TRACKING_URI; echo WB=$WANDB_BASE_URL; echo WK=$WANDB_API_KEY; echo TB=$TENSORBOARD_LOGDIR; echo WS=$FETCHML_WORKSPACE'`,
      plugin_configs: {
        mlflow: { mode: 'remote', settings: { tracking_uri: 'http://mlflow.example:5000' } },
        wandb: { mode: 'remote', settings: { base_url: 'http://wandb.example', api_key: 'task-key' } },
        tensorboard: { mode: 'remote' },
      },
    });
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'completed', done.error);
    const out = await log(t);
    assert.match(out, /^MLFLOW=http:\/\/mlflow\.example:5000$/m);
    assert.match(out, /^WB=http:\/\/wandb\.example$/m);
    assert.match(out, /^WK=task-key$/m);
    const ws = /^WS=(.+)$/m.exec(out)?.[1];
    assert.ok(ws);
    assert.match(out, new RegExp(`^TB=${ws}/tensorboard$`, 'm'), 'the tensorboard log dir is inside the real workspace');
  });

  test('remote mode: the cluster config is merged under the task entry', async () => {
    const put = await c.api('PUT', '/v1/plugins/wandb/config', { enabled: true, mode: 'remote', settings: { base_url: 'http://cluster-wandb', api_key: 'cluster-key' } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    try {
      const t = await c.submit({
        entrypoint: `/bin/sh -c 'echo WB=$WANDB_BASE_URL; echo WK=$WANDB_API_KEY; echo WP=$WANDB_PROJECT'`,
        plugin_configs: { wandb: { settings: { base_url: 'http://task-wandb', project: 'p1' } } },
      });
      const done = await c.waitStatus(t.id, ['completed', 'failed']);
      assert.equal(done.status, 'completed', done.error);
      const out = await log(t);
      assert.match(out, /^WB=http:\/\/task-wandb$/m, 'the task entry wins');
      assert.match(out, /^WK=cluster-key$/m, 'the cluster fills in what the task does not set');
      assert.match(out, /^WP=p1$/m);
      assert.equal(done.plugin_configs?.wandb?.settings?.api_key, undefined, 'the task record keeps what the user sent');
      // Disabled cluster-wide: the task gets nothing of it.
      assert.equal((await c.api('DELETE', '/v1/plugins/wandb/config')).status, 204);
      const t2 = await c.submit({ entrypoint: `/bin/sh -c 'echo WB=$WANDB_BASE_URL.'`, plugin_configs: { wandb: { settings: { base_url: 'http://task-wandb' } } } });
      await c.waitStatus(t2.id, ['completed']);
      assert.match(await log(t2), /^WB=\.$/m);
    } finally {
      await c.api('DELETE', '/v1/plugins/wandb/config');
    }
  });

  test('sidecar mode: tensorboard starts next to the task, is healthy, and is stopped after it', async () => {
    const t = await c.submit({
      entrypoint: `/bin/sh -c 'echo URL=$FETCHML_TENSORBOARD_URL; echo TB=$TENSORBOARD_LOGDIR; node -e "fetch(process.env.FETCHML_TENSORBOARD_URL).then(async (r) => console.log(\\"GOT=\\" + r.status + \\" \\" + (await r.text())))"; sleep 1'`,
      plugin_configs: { tensorboard: { mode: 'sidecar' }, mlflow: { mode: 'sidecar' } },
    });
    const running = await waitFor(
      async () => {
        const x = await c.task(t.id);
        return x.status === 'running' && x.plugin_status?.tensorboard?.status === 'healthy' ? x : undefined;
      },
      { what: 'the task running with a healthy tensorboard sidecar' },
    );
    assert.match(running.plugin_status!.tensorboard!.url!, /^http:\/\/127\.0\.0\.1:\d+$/);
    // mlflow is not installed here: unhealthy with the reason, and the task runs anyway.
    assert.equal(running.plugin_status!.mlflow!.status, 'unhealthy');
    assert.match(running.plugin_status!.mlflow!.message!, /mlflow is not installed/);
    const pid = Number(await readFile(join(tmp.path, 'tb.pid'), 'utf8'));
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'completed', done.error);
    const out = await log(t);
    assert.match(out, new RegExp(`^URL=${running.plugin_status!.tensorboard!.url!.replace(/\./g, '\\.')}$`, 'm'));
    const tb = /^TB=(.+)$/m.exec(out)?.[1];
    assert.match(out, new RegExp(`^GOT=200 fake tensorboard logdir=${tb}$`, 'm'), 'the task reached its sidecar, which serves the task log dir');
    const stopped = await waitFor(async () => {
      const x = await c.task(t.id);
      return x.plugin_status?.tensorboard?.status === 'stopped' ? x : undefined;
    }, { what: 'the sidecar reported stopped' });
    assert.equal(stopped.plugin_status!.tensorboard!.status, 'stopped');
    await waitFor(() => !processAlive(pid), { what: 'the sidecar process to be gone', timeoutMs: 5000 });
  });

  test('plugin health maps sidecar statuses (QUIRKS: four values onto three)', async () => {
    assert.equal((await c.api('PUT', '/v1/plugins/tensorboard/config', { enabled: true, mode: 'remote' })).status, 200);
    const h = await c.api<{ status: string }>('GET', '/v1/plugins/tensorboard/health');
    assert.equal(h.body.status, 'healthy');
    assert.equal((await c.api('DELETE', '/v1/plugins/tensorboard')).status, 204);
    const off = await c.api<{ status: string }>('GET', '/v1/plugins/tensorboard/health');
    assert.equal(off.body.status, 'unhealthy', 'stopped (disabled) → unhealthy');
    assert.equal((await c.api('GET', '/v1/plugins/nope/health')).status, 404);
  });
});

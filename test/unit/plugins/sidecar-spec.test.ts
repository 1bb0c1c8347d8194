import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sidecarSpec, type SidecarSpec } from '../../../agent/plugins/sidecar-spec.js';
import { mergeTaskPluginConfigs, sidecarPlugins } from '../../../shared/plugins.js';

const proc = { task_id: 't1', workspace: '/data/tasks/t1/workspace', task_workspace: '/data/tasks/t1/workspace', port: 4321, runtime: 'process' as const };
const spec = (x: SidecarSpec | { unsupported: string }): SidecarSpec => {
  assert.ok(!('unsupported' in x), JSON.stringify(x));
  return x;
};

test('process tensorboard: serves the task log dir on loopback, the task gets the dir and the URL', () => {
  const s = spec(sidecarSpec('tensorboard', { mode: 'sidecar' }, proc));
  assert.deepEqual(s.argv, ['tensorboard', '--logdir', '/data/tasks/t1/workspace/tensorboard', '--host', '127.0.0.1', '--port', '4321']);
  assert.equal(s.tool, 'tensorboard');
  assert.deepEqual(s.env, { TENSORBOARD_LOGDIR: '/data/tasks/t1/workspace/tensorboard', FETCHML_TENSORBOARD_URL: 'http://127.0.0.1:4321' });
  assert.equal(spec(sidecarSpec('tensorboard', { settings: { log_dir: '/logs' } }, proc)).env.TENSORBOARD_LOGDIR, '/logs');
});

test('process mlflow: a file store in the workspace, MLFLOW_TRACKING_URI points at it', () => {
  const s = spec(sidecarSpec('mlflow', { mode: 'sidecar' }, proc));
  assert.deepEqual(s.argv.slice(0, 2), ['mlflow', 'server']);
  assert.ok(s.argv.includes('file:///data/tasks/t1/workspace/mlruns'));
  assert.equal(s.health_path, '/health');
  assert.deepEqual(s.env, { MLFLOW_TRACKING_URI: 'http://127.0.0.1:4321' });
});

test('container sidecars need the config image, run on the host network with the workspace where the task sees it', () => {
  const c = { ...proc, task_workspace: '/workspace', runtime: 'podman' as const };
  assert.match((sidecarSpec('tensorboard', { mode: 'sidecar' }, c) as { unsupported: string }).unsupported, /image/);
  const s = spec(sidecarSpec('tensorboard', { mode: 'sidecar', image: 'tensorflow/tensorflow:2.15.0' }, c));
  assert.equal(s.tool, 'podman');
  assert.deepEqual(s.argv.slice(0, 9), ['podman', 'run', '--rm', '--name', 'fetchml-sidecar-tensorboard-t1', '--network', 'host', '-v', '/data/tasks/t1/workspace:/workspace']);
  assert.deepEqual(s.argv.slice(9, 12), ['tensorflow/tensorflow:2.15.0', 'tensorboard', '--logdir']);
  assert.equal(s.argv[12], '/workspace/tensorboard');
  assert.equal(s.env.TENSORBOARD_LOGDIR, '/workspace/tensorboard');
  assert.equal(s.container, 'fetchml-sidecar-tensorboard-t1');
});

test('wandb has no sidecar', () => {
  assert.match((sidecarSpec('wandb', { mode: 'sidecar' }, proc) as { unsupported: string }).unsupported, /remote/);
});

test('task configs merge with the cluster config; unnamed plugins do not apply; disabled anywhere wins', () => {
  const cluster: Record<string, { enabled?: boolean; mode?: 'remote' | 'sidecar' | 'disabled'; settings?: Record<string, unknown> }> = {
    wandb: { enabled: true, mode: 'remote', settings: { api_key: 'k', base_url: 'http://c' } },
    mlflow: { enabled: false, mode: 'disabled' },
    tensorboard: { enabled: true, mode: 'sidecar' },
  };
  const m = mergeTaskPluginConfigs({ wandb: { settings: { base_url: 'http://t' } }, mlflow: { mode: 'remote', settings: { tracking_uri: 'x' } }, tensorboard: {} }, (n) => cluster[n])!;
  assert.deepEqual(m.wandb!.settings, { api_key: 'k', base_url: 'http://t' });
  assert.equal(m.wandb!.mode, 'remote');
  assert.equal(m.mlflow!.mode, 'disabled');
  assert.deepEqual(sidecarPlugins(m).map(([n]) => n), ['tensorboard']);
  assert.equal(mergeTaskPluginConfigs(undefined, (n) => cluster[n]), undefined, 'a task naming no plugin gets none, whatever the cluster has');
  assert.deepEqual(Object.keys(mergeTaskPluginConfigs({ custom: { mode: 'remote' } }, () => undefined)!), ['custom']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergePluginConfig, pluginDisabled, pluginEnvironment } from '../../../shared/plugins.js';

const ctx = { workspace: '/ws/t1', jobName: 'train-a', taskId: 't1' };

test('remote mlflow and wandb settings become the tools own variables', () => {
  const env = pluginEnvironment(
    {
      mlflow: { mode: 'remote', settings: { tracking_uri: 'http://mlflow:5000' } },
      wandb: { mode: 'remote', settings: { base_url: 'http://wandb.local', api_key: 'k123' } },
    },
    ctx,
  );
  assert.equal(env.MLFLOW_TRACKING_URI, 'http://mlflow:5000');
  assert.equal(env.WANDB_BASE_URL, 'http://wandb.local');
  assert.equal(env.WANDB_API_KEY, 'k123');
  assert.equal(env.MLFLOW_EXPERIMENT_NAME, 'train-a');
});

test('tensorboard gives a log dir inside the workspace unless one is set', () => {
  assert.equal(pluginEnvironment({ tensorboard: {} }, ctx).TENSORBOARD_LOGDIR, '/ws/t1/tensorboard');
  assert.equal(pluginEnvironment({ tensorboard: { settings: { log_dir: '/logs' } } }, ctx).TENSORBOARD_LOGDIR, '/logs');
});

test('either enabled:false or mode:disabled disables a plugin', () => {
  assert.equal(pluginDisabled({ enabled: false, mode: 'remote' }), true);
  assert.equal(pluginDisabled({ enabled: true, mode: 'disabled' }), true);
  assert.deepEqual(pluginEnvironment({ mlflow: { enabled: false, settings: { tracking_uri: 'x' } } }, ctx), {});
});

test('task settings override the cluster default key by key; a cluster-wide disable wins', () => {
  const merged = mergePluginConfig(
    { mode: 'remote', settings: { tracking_uri: 'http://a', experiment_name: 'e' } },
    { settings: { tracking_uri: 'http://b' } },
  );
  assert.deepEqual(merged.settings, { tracking_uri: 'http://b', experiment_name: 'e' });
  assert.equal(merged.enabled, true);
  assert.equal(mergePluginConfig({ enabled: false }, { mode: 'remote' }).enabled, false);
});

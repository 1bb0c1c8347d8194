import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../../../shared/api-types.js';
import { healthOf, sidecarHealth } from '../../../control/services/plugins.js';

const task = (status: Task['status'], tb?: 'healthy' | 'unhealthy' | 'starting' | 'stopped') =>
  ({ id: 'x', status, ...(tb ? { plugin_status: { tensorboard: { name: 'tensorboard', status: tb } } } : {}) }) as Task;

test('a sidecar plugin is as healthy as the worst active task reports; finished tasks do not count', () => {
  assert.equal(sidecarHealth([], 'tensorboard'), 'healthy');
  assert.equal(sidecarHealth([task('running', 'healthy'), task('running', 'starting')], 'tensorboard'), 'starting');
  assert.equal(sidecarHealth([task('running', 'starting'), task('running', 'unhealthy')], 'tensorboard'), 'unhealthy');
  assert.equal(sidecarHealth([task('failed', 'unhealthy'), task('completed', 'stopped'), task('running')], 'tensorboard'), 'healthy');
  assert.equal(sidecarHealth([task('running', 'unhealthy')], 'mlflow'), 'healthy');
});

test('QUIRKS: four PluginStatus values onto three HealthResponse values', () => {
  assert.deepEqual(
    (['healthy', 'starting', 'unhealthy', 'stopped'] as const).map((s) => healthOf(s)),
    ['healthy', 'degraded', 'unhealthy', 'unhealthy'],
  );
});

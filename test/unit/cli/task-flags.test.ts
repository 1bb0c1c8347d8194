import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildTaskRequest, joinArgs, parseDatasetFlag, parsePluginFlags } from '../../../bin/task-flags.js';
import { UsageError } from '../../../bin/errors.js';

const SHA = 'ab'.repeat(32);

describe('--dataset NAME=SHA256@URL[:MOUNT]', () => {
  test('URL with a port and a mount path', () => {
    assert.deepEqual(parseDatasetFlag(`imagenet=${SHA}@https://data.example:8443/in.tar:/data/imagenet`), {
      name: 'imagenet',
      sha256: SHA,
      source: 'https://data.example:8443/in.tar',
      mount_path: '/data/imagenet',
    });
  });
  test('without a mount; the URL port is not taken for a mount', () => {
    assert.deepEqual(parseDatasetFlag(`d=${SHA.toUpperCase()}@http://h:9000/x.tar`), { name: 'd', sha256: SHA, source: 'http://h:9000/x.tar' });
    assert.deepEqual(parseDatasetFlag(`d=${SHA}@s3://bucket/key`), { name: 'd', sha256: SHA, source: 's3://bucket/key' });
  });
  test('bad forms are usage errors', () => {
    for (const bad of [
      'nodata',
      `=${SHA}@http://h/x`,
      `d=${SHA}`,
      `d=abc@http://h/x`,
      `d=${SHA}@not a url`,
      `d=${SHA}@ftp://h/x`,
      `d=${SHA}@http://h/x:/data/../etc`,
      `bad name=${SHA}@http://h/x`,
    ]) {
      assert.throws(() => parseDatasetFlag(bad), UsageError, bad);
    }
  });
});

describe('--plugin NAME[:MODE]', () => {
  test('modes', () => {
    assert.deepEqual(parsePluginFlags(['mlflow:remote', 'tensorboard', 'wandb:disabled']), {
      mlflow: { enabled: true, mode: 'remote' },
      tensorboard: { enabled: true },
      wandb: { enabled: false, mode: 'disabled' },
    });
    assert.throws(() => parsePluginFlags(['mlflow:cloud']), UsageError);
    assert.throws(() => parsePluginFlags(['a:b:c']), UsageError);
  });
});

describe('task request', () => {
  test('flags map onto CreateTaskRequest fields', () => {
    const req = buildTaskRequest('train.py', ['--lr', '0.1', 'two words'], {
      gpus: 2,
      gpuType: 'A100',
      cpus: 8,
      memory: 32,
      nodes: 2,
      priority: 7,
      image: 'pytorch/pytorch',
      dataset: [`d=${SHA}@https://h/x.tar`],
      plugin: ['mlflow'],
    });
    assert.deepEqual(req, {
      job_name: 'train',
      entrypoint: 'train.py',
      args: "--lr 0.1 'two words'",
      gpu: 2,
      gpu_type: 'A100',
      cpu: 8,
      memory_gb: 32,
      node_count: 2,
      priority: 7,
      image: 'pytorch/pytorch',
      dataset_specs: [{ name: 'd', sha256: SHA, source: 'https://h/x.tar' }],
      plugin_configs: { mlflow: { enabled: true } },
    });
  });
  test('an entrypoint that looks like a flag is a usage error', () => {
    assert.throws(() => buildTaskRequest('--gpus', [], {}), UsageError);
    assert.throws(() => buildTaskRequest('', [], {}), UsageError);
  });
  test('args quoting survives a shell-words split', () => {
    assert.equal(joinArgs(["it's", '', 'a b', '$HOME']), `'it'\\''s' '' 'a b' '$HOME'`);
  });
});

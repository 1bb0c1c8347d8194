import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_IMAGE, loadAgentConfig } from '../../../agent/config.js';

const base = { control: 'http://127.0.0.1:9101', token: 't' };

test('defaults: process runtime, auto launcher, 10 s grace, the default image', () => {
  const c = loadAgentConfig(base, {});
  assert.equal(c.runtime, 'process');
  assert.equal(c.launcher, 'auto');
  assert.equal(c.stopGraceMs, 10_000);
  assert.equal(c.defaultImage, DEFAULT_IMAGE);
  assert.equal(c.batchSlots, undefined);
  assert.ok(Object.isFrozen(c));
});

test('environment: launcher, grace, token, flags and dataset roots', () => {
  const c = loadAgentConfig({ control: 'https://control.example' }, {
    FETCHML_AGENT_TOKEN: 'from-env',
    FETCHML_LAUNCHER: 'node',
    FETCHML_STOP_GRACE_SECONDS: '2.5',
    FETCHML_CONTAINER_RUN_FLAGS: ' --ulimit  nofile=1024:1024 ',
    FETCHML_DATASET_ROOTS: '/data:/scratch:',
  });
  assert.equal(c.token, 'from-env');
  assert.equal(c.launcher, 'node');
  assert.equal(c.stopGraceMs, 2500);
  assert.deepEqual(c.containerRunFlags, ['--ulimit', 'nofile=1024:1024']);
  assert.deepEqual(c.datasetRoots, ['/data', '/scratch']);
  assert.equal(loadAgentConfig(base, { FETCHML_LAUNCHER: 'none' }).launcher, 'none');
  assert.equal(loadAgentConfig(base, {}).launcherPython, 'python3');
  assert.equal(loadAgentConfig(base, { FETCHML_LAUNCHER_PYTHON: '/usr/bin/python3.11' }).launcherPython, '/usr/bin/python3.11');
});

test('bad settings are refused with a message that names the setting', () => {
  const bad: Array<[Parameters<typeof loadAgentConfig>[0], NodeJS.ProcessEnv, RegExp]> = [
    [{ control: '' }, {}, /--control URL is required/],
    [{ control: 'ftp://x' }, {}, /--control must be an http\(s\) URL/],
    [{ control: 'not a url' }, {}, /--control must be/],
    [{ control: 'http://x' }, {}, /no agent token/],
    [{ ...base, runtime: 'lxc' as never }, {}, /--runtime must be process, docker or podman/],
    [{ ...base, batchSlots: -1 }, {}, /--batch-slots must be a whole number/],
    [{ ...base, serviceSlots: 1.5 }, {}, /--service-slots must be a whole number/],
    [base, { FETCHML_LAUNCHER: 'bash' }, /FETCHML_LAUNCHER must be auto, python, node or none/],
  ];
  for (const [opts, env, msg] of bad) assert.throws(() => loadAgentConfig(opts, env), msg);
  // A nonsensical grace falls back to the default rather than 0 (which would SIGKILL at once).
  assert.equal(loadAgentConfig(base, { FETCHML_STOP_GRACE_SECONDS: 'soon' }).stopGraceMs, 10_000);
});

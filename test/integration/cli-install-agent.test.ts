import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnFetchml } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

test('install-agent writes the unit and a 0600 env file, then enables the service through systemctl', async () => {
  await using dir = await tempDir();
  const fakeBin = join(dir.path, 'bin');
  await mkdir(fakeBin);
  const log = join(dir.path, 'systemctl.log');
  await writeFile(join(fakeBin, 'systemctl'), `#!/bin/sh\necho "$@" >> "${log}"\n`);
  await chmod(join(fakeBin, 'systemctl'), 0o755);
  const unitDir = join(dir.path, 'units');
  const envDir = join(dir.path, 'etc');
  await using p = spawnFetchml(
    ['install-agent', '--control', 'http://control.example:9101', '--token', 's3cret tok"en', '--runtime', 'podman', '--batch-slots', '4', '--unit-dir', unitDir, '--env-dir', envDir],
    { env: { PATH: `${fakeBin}:${process.env.PATH}` } },
  );
  const { code } = await p.exited;
  assert.equal(code, 0, p.output());
  const unit = await readFile(join(unitDir, 'fetchml-agent.service'), 'utf8');
  assert.match(unit, /EnvironmentFile=.*agent\.env/);
  assert.match(unit, /KillMode=process/);
  assert.doesNotMatch(unit, /s3cret/, 'the token must not be on the command line');
  const envFile = join(envDir, 'agent.env');
  assert.equal((await stat(envFile)).mode & 0o777, 0o600);
  const env = await readFile(envFile, 'utf8');
  assert.match(env, /^FETCHML_CONTROL_URL=http:\/\/control\.example:9101$/m);
  assert.match(env, /^FETCHML_AGENT_TOKEN="s3cret tok\\"en"$/m);
  assert.match(env, /^FETCHML_AGENT_ARGS="--runtime podman --batch-slots 4"$/m);
  assert.deepEqual((await readFile(log, 'utf8')).trim().split('\n'), ['daemon-reload', 'enable --now fetchml-agent.service']);
});

test('install-agent without a token or with a bad URL is a usage error that says what to do', async () => {
  await using dir = await tempDir();
  const base = ['install-agent', '--unit-dir', dir.path, '--env-dir', dir.path, '--no-start'];
  const env = { FETCHML_AGENT_TOKEN: '' };
  await using noToken = spawnFetchml([...base, '--control', 'http://c:9101'], { env });
  assert.equal((await noToken.exited).code, 2);
  assert.match(noToken.output(), /--token or set FETCHML_AGENT_TOKEN/);
  await using badUrl = spawnFetchml([...base, '--control', 'not a url', '--token', 't'], { env });
  assert.equal((await badUrl.exited).code, 2);
  assert.match(badUrl.output(), /--control must be a URL/);
  assert.doesNotMatch(badUrl.output(), /\n\s+at /, 'no stack trace');
});

/** The CLI as a real process: usage errors, unreachable control, --json outputs against a real control. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/process.js';
import { runFetchml, startCliCluster, type CliCluster } from './cli-harness.js';

describe('fetchml CLI without control', () => {
  test('--version prints the package version, exit 0', async () => {
    const r = await runFetchml(['--version']);
    assert.equal(r.exitCode, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+$/);
  });

  test('bad usage exits 2 with a message', async () => {
    for (const args of [['bogus'], ['run'], ['tasks', '--status', 'nope'], ['priority', 't1', '11'], ['run', 'train.py', '--dataset', 'x'], ['workers', 'drain', 'w1', '--deadline', 'soon']]) {
      const r = await runFetchml(args, { env: { FETCHML_URL: 'http://127.0.0.1:9' } });
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /error/i, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  test('unreachable control: names the URL and what to check, no stack trace, exit 1', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const r = await runFetchml(['tasks'], { env: { FETCHML_URL: url, FETCHML_API_KEY: 'k' } });
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, new RegExp(`cannot reach control at ${url.replace(/\./g, '\\.')}: ECONNREFUSED`));
    assert.match(r.stderr, /fetchml control/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('--help on a command shows an example', async () => {
    const r = await runFetchml(['workers', '--help']);
    assert.equal(r.exitCode, 0);
    assert.match(r.stdout, /Example/);
  });

  test('completion bash is a valid bash script naming the commands', async () => {
    const r = await runFetchml(['completion', 'bash']);
    assert.equal(r.exitCode, 0);
    assert.match(r.stdout, /complete -F _fetchml_complete fetchml/);
    assert.match(r.stdout, /"workers"\) words="show drain undrain/);
  });
});

describe('fetchml CLI against a real control', () => {
  let c: CliCluster;
  before(async () => {
    c = await startCliCluster();
  });
  after(async () => {
    await c?.close();
  });

  test('--json outputs parse (queue, tasks, workers, scheduler status, audit verify/root, keys)', async () => {
    for (const args of [['queue'], ['tasks', '--all'], ['workers'], ['scheduler', 'status'], ['audit', 'verify'], ['audit', 'root'], ['keys', 'list'], ['reservations']]) {
      const r = await c.cli([...args, '--json']);
      assert.equal(r.exitCode, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotThrow(() => JSON.parse(r.stdout), `${args.join(' ')} printed: ${r.stdout}`);
    }
  });

  test('an API error prints the message and trace_id, exit 1', async () => {
    const r = await c.cli(['task', 'no-such-task']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /404/);
    assert.match(r.stderr, /trace_id [0-9a-f-]{8,}/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('wrong key → 401 message; login stores a profile the next command uses', async () => {
    const bad = await c.cli(['queue'], { env: { FETCHML_API_KEY: 'wrong' } });
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /401/);
    const login = await c.cli(['login', '--url', c.url, '--key', 'cli-it-admin-key-0123456789abcdef'], { env: { FETCHML_URL: '', FETCHML_API_KEY: '' } });
    assert.equal(login.exitCode, 0, login.stderr);
    const viaProfile = await c.cli(['queue', '--json'], { env: { FETCHML_URL: '', FETCHML_API_KEY: '' } });
    assert.equal(viaProfile.exitCode, 0, viaProfile.stderr);
  });

  test('submit --file sends batches and prints one id per task', async () => {
    const { writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const file = join(c.dir, 'jobs.jsonl');
    const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify({ job_name: `sweep-${i}`, entrypoint: 'train.py', args: `--lr 0.${i}` }));
    await writeFile(file, `${lines.join('\n')}\n`);
    const r = await c.cli(['submit', '--file', file, '--batch-size', '10', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { submitted: number; tasks: Array<{ id: string; job_name: string }> };
    assert.equal(out.submitted, 25);
    assert.deepEqual(out.tasks.map((t) => t.job_name), lines.map((_, i) => `sweep-${i}`));
    assert.match(r.stderr, /3 requests/);
    await writeFile(file, '{"job_name":"ok"}\nnot json\n');
    const bad = await c.cli(['submit', '--file', file]);
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /line 2/);
  });
});

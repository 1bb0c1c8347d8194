/** `fetchml run` / `logs -f` / drain as real processes against a real control and a real agent. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Task } from '../../shared/api-types.js';
import { startCliCluster, type CliCluster } from './cli-harness.js';
import { waitFor } from '../helpers/wait.js';

describe('fetchml run against control + agent', () => {
  let c: CliCluster;
  let code: string;
  before(async () => {
    c = await startCliCluster({ agent: true });
    code = join(c.dir, 'code');
    await mkdir(join(code, 'outputs'), { recursive: true });
    await writeFile(
      join(code, 'train.py'),
      'import sys\nfor i in range(3):\n    print(f"epoch {i} args={sys.argv[1:]}", flush=True)\nsys.exit(3)\n',
    );
    await writeFile(join(code, '.gitignore'), 'outputs/\n');
    await writeFile(join(code, 'outputs', 'big.bin'), Buffer.alloc(1024));
  });
  after(async () => {
    await c?.close();
  });

  test('streams the output and exits with the task exit code; the same tree is not uploaded twice', async () => {
    const first = await c.cli(['run', 'train.py', '--lr', '0.1'], { cwd: code, timeoutMs: 30_000 });
    assert.equal(first.exitCode, 3, first.stderr);
    for (let i = 0; i < 3; i++) assert.match(first.stdout, new RegExp(`epoch ${i} args=\\['--lr', '0.1'\\]`));
    assert.match(first.stderr, /snapshot [0-9a-f]{12} uploaded/);
    const second = await c.cli(['run', 'train.py', '--json'], { cwd: code, timeoutMs: 30_000 });
    assert.equal(second.exitCode, 3, second.stderr);
    assert.match(second.stderr, /already on control: nothing to upload/);
    assert.doesNotMatch(second.stderr, /uploaded/);
    const task = JSON.parse(second.stdout) as Task;
    assert.equal(task.status, 'failed');
    assert.equal(task.exit_code, 3);
  });

  test('--detach prints the id; logs -f ends when the task ends with its code; logs of a finished task', async () => {
    await writeFile(join(code, 'slow.py'), 'import time\nfor i in range(4):\n    print("tick", i, flush=True)\n    time.sleep(0.3)\n');
    const sub = await c.cli(['run', 'slow.py', '--detach'], { cwd: code });
    assert.equal(sub.exitCode, 0, sub.stderr);
    const id = sub.stdout.trim();
    assert.ok(id.length > 0);
    const follow = await c.cli(['logs', '-f', id], { timeoutMs: 30_000 });
    assert.equal(follow.exitCode, 0, follow.stderr);
    assert.match(follow.stdout, /tick 0[\s\S]*tick 3/);
    const again = await c.cli(['logs', id]);
    assert.match(again.stdout, /tick 3/);
    const shown = await c.cli(['task', id, '--json']);
    assert.equal((JSON.parse(shown.stdout) as Task).status, 'completed');
  });

  test('workers drain / undrain', async () => {
    const workers = await c.client.workers();
    const id = workers[0]!.id;
    const drain = await c.cli(['workers', 'drain', id, '--deadline', '30m', '--reason', 'driver update']);
    assert.equal(drain.exitCode, 0, drain.stderr);
    await waitFor(async () => (await c.client.worker(id)).status === 'draining', { what: 'worker draining' });
    const list = await c.cli(['workers']);
    assert.match(list.stdout, /draining/);
    const undrain = await c.cli(['workers', 'undrain', id, '--json']);
    assert.equal(undrain.exitCode, 0, undrain.stderr);
    await waitFor(async () => (await c.client.worker(id)).status === 'active', { what: 'worker active again' });
    const show = await c.cli(['workers', 'show', id]);
    assert.equal(show.exitCode, 0, show.stderr);
    assert.match(show.stdout, /disk \(data dir\): [\d.]+ GB free of [\d.]+ GB/);
    assert.match(show.stdout, /GPU\s+NAME\s+MEMORY\s+HEALTHY/);
  });
});

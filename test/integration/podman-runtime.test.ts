import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRuntime } from '../../agent/runtime/container.js';
import type { StartSpec } from '../../agent/runtime/types.js';
import { buildBusyboxImage } from '../fixtures/busybox-image.js';
import { podmanSkip, podmanTestFlags } from '../helpers/podman.js';
import { waitFor } from '../helpers/wait.js';


test('podman runtime runs a task in a real container: logs, exit code, stop, reattach', { skip: podmanSkip, timeout: 120_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'fetchml-podman-'));
  const globalFlags = podmanTestFlags(root);
  const rt = new ContainerRuntime({ cli: 'podman', globalFlags, runFlags: ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'] });
  after(async () => {
    try {
      execFileSync('podman', [...globalFlags, 'rm', '-af'], { stdio: 'ignore' });
    } catch { /* nothing to remove */ }
    // conmon may still be writing in the storage dir for a moment after rm -af.
    await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });
  const image = await buildBusyboxImage(['podman', ...globalFlags], root);
  const ws = join(root, 'ws');
  const data = join(root, 'data');
  await mkdir(ws, { recursive: true });
  await mkdir(data, { recursive: true });
  await writeFile(join(data, 'x.csv'), '1,2\n');
  const spec = (id: string, argv: string[]): StartSpec => ({
    task_id: id, epoch: 1, argv, workspace: ws, env: { GREETING: 'hello world' }, image, gpus: { indices: [], uuids: [] },
    mounts: [{ host: data, container: '/datasets/d', readonly: true }], cpu: 1, memory_gb: 0.25,
    log_file: join(root, id, 'output.log'), run_dir: join(root, id, 'run'),
  });

  // Output (stdout and stderr) in the log, the real exit code, workspace rw and dataset read-only.
  const s1 = spec('p1', ['sh', '-c', 'echo "$GREETING from $(pwd)"; cat /datasets/d/x.csv; echo out > /workspace/result; touch /datasets/d/no 2>/dev/null || echo ro >&2; echo "nvd=$NVIDIA_VISIBLE_DEVICES"; exit 5']);
  const h1 = await rt.start(s1);
  assert.deepEqual(await rt.wait(h1), { exit_code: 5 });
  const log = await readFile(s1.log_file, 'utf8');
  assert.match(log, /hello world from \/workspace/);
  assert.match(log, /1,2/);
  assert.match(log, /^ro$/m);
  assert.match(log, /nvd=void/);
  assert.equal(await readFile(join(ws, 'result'), 'utf8'), 'out\n');
  assert.equal(await rt.reattach(h1), 'exited');
  await rt.cleanup(h1);
  assert.equal(await rt.reattach(h1), 'lost');

  // A running task: a fresh runtime (the agent restarted) finds it, then stop ends it.
  const s2 = spec('p2', ['sh', '-c', 'echo started; exec sleep 300']);
  const h2 = await rt.start(s2);
  // The first runtime's follower has copied the output (as a dead agent's would have) before the fresh one re-follows.
  await waitFor(async () => (await readFile(s2.log_file, 'utf8').catch(() => '')).includes('started'), { what: 'container output' });
  const fresh = new ContainerRuntime({ cli: 'podman', globalFlags });
  assert.equal(await fresh.reattach(h2), 'running');
  assert.deepEqual(await fresh.listManaged(), ['fetchml-p2-1']);
  const waiting = fresh.wait(h2);
  await fresh.stop(h2, 1000);
  const r = await waiting;
  assert.ok(r.exit_code === 143 || r.exit_code === 137, `stopped container exit code ${r.exit_code}`);
  await fresh.cleanup(h2);
  assert.match(await readFile(s2.log_file, 'utf8'), /^started\n$/);
});

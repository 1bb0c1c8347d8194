import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRuntime } from '../../agent/runtime/process.js';
import type { RuntimeHandle, StartSpec } from '../../agent/runtime/types.js';
import { TaskFailure } from '../../shared/errors.js';
import { repoRoot } from '../helpers/paths.js';
import { waitFor } from '../helpers/wait.js';
import { isLive } from '../../agent/runtime/proc-fs.js';

const root = await mkdtemp(join(tmpdir(), 'fetchml-proc-'));
const handles: RuntimeHandle[] = [];
after(async () => {
  for (const h of handles) if (h.pid) try { process.kill(-h.pid, 'SIGKILL'); } catch { /* gone */ }
  await rm(root, { recursive: true, force: true });
});

let n = 0;
function spec(argv: string[], extra: Partial<StartSpec> = {}): StartSpec {
  const id = `t${++n}`;
  return {
    task_id: id, epoch: 1, argv, workspace: root, env: {}, gpus: { indices: [], uuids: [] }, mounts: [],
    log_file: join(root, id, 'output.log'), run_dir: join(root, id, 'run'), ...extra,
  };
}
const rt = new ProcessRuntime({ pollMs: 20, baseEnv: { ...process.env, FETCHML_AGENT_TOKEN: 'secret' } });
async function start(s: StartSpec, runtime = rt) {
  const h = await runtime.start(s);
  handles.push(h);
  return h;
}

describe('process runtime', () => {
  test('argv runs verbatim without a shell; stdout and stderr go to the log', async () => {
    const s = spec(['/bin/sh', '-c', 'printf "%s|" "$@"; echo oops >&2; exit 3', 'x', 'a b', '$HOME', '*', '; rm -rf /']);
    const h = await start(s);
    // proc_start may be missing here: this entrypoint can exit (and be reaped) before /proc is read.
    assert.ok(h.pid);
    assert.deepEqual(await rt.wait(h), { exit_code: 3 });
    const log = await readFile(s.log_file, 'utf8');
    assert.match(log, /^a b\|\$HOME\|\*\|; rm -rf \/\|/);
    assert.match(log, /oops/);
    assert.equal(await rt.reattach(h), 'exited');
  });

  test('GPU indices in CUDA_VISIBLE_DEVICES, empty when none; agent secrets not inherited', async () => {
    const show = ['/bin/sh', '-c', 'echo "cvd=[${CUDA_VISIBLE_DEVICES-unset}] tok=[${FETCHML_AGENT_TOKEN-unset}] x=$X"'];
    const a = spec(show, { gpus: { indices: [2, 5], uuids: ['GPU-a', 'GPU-b'] }, env: { X: '1', CUDA_VISIBLE_DEVICES: '0,1,2,3' } });
    const b = spec(show);
    const [ha, hb] = [await start(a), await start(b)];
    await rt.wait(ha);
    await rt.wait(hb);
    assert.equal((await readFile(a.log_file, 'utf8')).trim(), 'cvd=[2,5] tok=[unset] x=1');
    assert.equal((await readFile(b.log_file, 'utf8')).trim(), 'cvd=[] tok=[unset] x=');
  });

  test('the task inherits no ignored signals from the wrapper', async () => {
    const s = spec(['grep', '^SigIgn', '/proc/self/status']);
    await rt.wait(await start(s));
    assert.match(await readFile(s.log_file, 'utf8'), /^SigIgn:\s+0+$/m);
  });

  test('a missing program exits 127; a missing workspace is an infrastructure failure', async () => {
    assert.equal((await rt.wait(await start(spec(['/nonexistent/prog'])))).exit_code, 127);
    await assert.rejects(rt.start(spec(['/bin/true'], { workspace: join(root, 'nope') })), (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure');
  });

  test('stop: SIGTERM to the group records the exit status', async () => {
    const s = spec(['sleep', '30']);
    const h = await start(s);
    const t0 = Date.now();
    await rt.stop(h, 5000);
    assert.deepEqual(await rt.wait(h), { exit_code: 143, signal: 'SIGTERM' });
    assert.ok(Date.now() - t0 < 3000);
  });

  test('stop: a task ignoring SIGTERM is killed with its whole group after the grace period', async () => {
    const s = spec(['/bin/sh', '-c', 'trap "" TERM; sleep 30 & echo $! > child.pid; echo ready; wait']);
    s.workspace = join(root);
    const h = await start(s);
    for (let i = 0; i < 200 && !(await readFile(s.log_file, 'utf8')).includes('ready'); i++) await new Promise((r) => setTimeout(r, 10));
    const grandchild = Number(await readFile(join(root, 'child.pid'), 'utf8'));
    await rt.stop(h, 200);
    assert.deepEqual(await rt.wait(h), { exit_code: 137, signal: 'SIGKILL' });
    assert.equal(await waitFor(async () => !(await isLive(grandchild)), { timeoutMs: 2000, what: 'grandchild gone' }), true);
  });

  test('reattach from a fresh runtime: running, then wait by polling gives the real exit code', async () => {
    const go = join(root, 'go');
    const s = spec(['/bin/sh', '-c', `while [ ! -f ${go} ]; do sleep 0.02; done; echo finished; exit 7`]);
    const h = await start(s);
    const fresh = new ProcessRuntime({ pollMs: 20 });
    assert.equal(await fresh.reattach(h), 'running');
    const waiting = fresh.wait(h);
    await writeFile(go, '');
    assert.deepEqual(await waiting, { exit_code: 7 });
    assert.equal(await fresh.reattach(h), 'exited');
    await fresh.cleanup(h);
    assert.equal(await fresh.reattach(h), 'lost');
  });

  test('a reused pid is not mistaken for the task', async () => {
    const h: RuntimeHandle = { runtime: 'process', task_id: 'x', epoch: 1, log_file: '/dev/null', run_dir: join(root, 'none'), started_at: '', pid: process.pid, proc_start: '1' };
    assert.equal(await rt.reattach(h), 'lost');
    await rt.stop(h, 10); // must not signal us
  });

  test('the task survives the agent being killed with SIGKILL, and is re-attached', async () => {
    const s = spec(['/bin/sh', '-c', `echo one; while [ ! -f ${join(root, 'go2')} ]; do sleep 0.02; done; echo two; exit 4`]);
    const script = `import { ProcessRuntime } from ${JSON.stringify(join(repoRoot, 'agent/runtime/process.ts'))};
      const h = await new ProcessRuntime().start(${JSON.stringify(s)}); console.log(JSON.stringify(h)); setInterval(() => {}, 1000);`;
    const agent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => agent.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
    const h = JSON.parse(line) as RuntimeHandle;
    handles.push(h);
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    const fresh = new ProcessRuntime({ pollMs: 20 });
    assert.equal(await fresh.reattach(h), 'running');
    await writeFile(join(root, 'go2'), '');
    assert.deepEqual(await fresh.wait(h), { exit_code: 4 });
    assert.equal(await readFile(s.log_file, 'utf8'), 'one\ntwo\n');
  });
});

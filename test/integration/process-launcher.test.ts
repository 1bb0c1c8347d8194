import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRuntime } from '../../agent/runtime/process.js';
import type { RuntimeHandle, StartSpec } from '../../agent/runtime/types.js';
import { TaskFailure } from '../../shared/errors.js';
import { waitFor } from '../helpers/wait.js';
import { isLive } from '../../agent/runtime/proc-fs.js';

const root = await mkdtemp(join(tmpdir(), 'fetchml-launcher-'));
const handles: RuntimeHandle[] = [];
const launcherPid = async (dir: string) => Number((await readFile(join(dir, 'launcher.pid'), 'utf8')).trim());
after(async () => {
  for (const h of handles) if (h.pid) try { process.kill(-h.pid, 'SIGKILL'); } catch { /* gone */ }
  for (const f of ['python', 'node']) try { process.kill(await launcherPid(join(root, `launcher-${f}`)), 'SIGKILL'); } catch { /* gone */ }
  await rm(root, { recursive: true, force: true });
});

let n = 0;
function spec(argv: string[]): StartSpec {
  const id = `t${++n}`;
  return { task_id: id, epoch: 1, argv, workspace: root, env: {}, gpus: { indices: [], uuids: [] }, mounts: [], log_file: join(root, id, 'output.log'), run_dir: join(root, id, 'run') };
}
async function startOn(runtime: ProcessRuntime, s: StartSpec) {
  const h = await runtime.start(s);
  handles.push(h);
  return h;
}
/** The task itself (no /bin/sh wrapper) leads its process group. */
const cmdline = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');

for (const flavour of ['python', 'node'] as const) describe(`process runtime with the resident launcher (${flavour})`, () => {
  const launcherDir = join(root, `launcher-${flavour}`);
  const rt = new ProcessRuntime({ pollMs: 20, launcherDir, launcher: flavour });
  const start = (s: StartSpec, runtime = rt) => startOn(runtime, s);
  const ownPid = () => launcherPid(launcherDir);

  test('the launcher that runs is the one asked for', async () => {
    assert.deepEqual(await rt.wait(await start(spec(['/bin/true']))), { exit_code: 0 });
    const cmd = await cmdline(await ownPid());
    assert.ok(cmd.some((a) => a.endsWith(flavour === 'python' ? 'launcher.py' : 'launcher.cjs')), cmd.join(' '));
  });

  test('a task gets the cwd, env and PATH lookup it asked for, stdin from /dev/null, no ignored or blocked signals', async () => {
    const s = { ...spec(['sh', '-c', 'pwd; echo "$FOO"; read x || echo no-stdin; grep -E "^Sig(Ign|Blk)" /proc/self/status']), env: { FOO: 'bar baz', PATH: '/usr/bin:/bin' } };
    const h = await start(s);
    assert.deepEqual(await rt.wait(h), { exit_code: 0 });
    const lines = (await readFile(s.log_file, 'utf8')).trim().split('\n');
    assert.equal(lines[0], root);
    assert.equal(lines[1], 'bar baz');
    assert.equal(lines[2], 'no-stdin');
    // Python ignores SIGPIPE and SIGXFSZ itself; a task must start with neither ignored. glibc's
    // posix_spawn leaves its two internal signals (32, 33) ignored, which glibc programs reset.
    assert.match(lines[3] ?? '', /^SigBlk:\s+0+$/);
    const ignored = BigInt(`0x${(lines[4] ?? '').split(/\s+/)[1] ?? 'x'}`) & ~0x180000000n;
    assert.equal(ignored, 0n, lines[4]);
  });

  test('a NUL byte in argv is refused without harming the launcher', async () => {
    const pid = await ownPid();
    // Refused by the launcher, then by the fallback wrapper's spawn: an infrastructure failure.
    await assert.rejects(start(spec(['/bin/echo', 'a\0b'])), (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure');
    assert.deepEqual(await rt.wait(await start(spec(['/bin/true']))), { exit_code: 0 });
    assert.equal(await ownPid(), pid);
  });

  test('argv runs directly, exit code and log recorded by the launcher; missing program 127 through the fallback', async () => {
    const s = spec(['/bin/sh', '-c', 'echo "out $1"; echo err >&2; sleep 0.2; exit 7', 'x', 'a b']);
    const h = await start(s);
    assert.deepEqual((await cmdline(h.pid!)).slice(0, 2), ['/bin/sh', '-c']);
    assert.ok(await ownPid());
    assert.deepEqual(await rt.wait(h), { exit_code: 7 });
    assert.equal(await readFile(join(s.run_dir, 'exit'), 'utf8'), '7\n');
    assert.equal(await readFile(s.log_file, 'utf8'), 'out a b\nerr\n');
    assert.equal((await rt.wait(await start(spec(['/nonexistent/prog'])))).exit_code, 127);
    await assert.rejects(rt.start({ ...spec(['/bin/true']), workspace: join(root, 'nope') }), (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure');
  });

  test('stop: SIGTERM to the group without waiting for a wrapper; SIGKILL after the grace period', async () => {
    const h = await start(spec(['/bin/sleep', '30']));
    const t0 = Date.now();
    await rt.stop(h, 2000);
    assert.ok(Date.now() - t0 < 900, `stop took ${Date.now() - t0} ms`);
    assert.deepEqual(await rt.wait(h), { exit_code: 143, signal: 'SIGTERM' });
    const stubborn = await start(spec(['/bin/sh', '-c', 'trap "" TERM; echo ready; sleep 30']));
    await waitFor(async () => (await readFile(join(root, `t${n}`, 'output.log'), 'utf8').catch(() => '')).includes('ready'));
    await rt.stop(stubborn, 100);
    assert.equal((await rt.wait(stubborn)).exit_code, 137);
  });

  test('a new runtime (restarted agent) re-attaches through the launcher, which recorded the exit meanwhile', async () => {
    const s = spec(['/bin/sh', '-c', 'sleep 0.3; exit 5']);
    const h = await start(s);
    const fresh = new ProcessRuntime({ pollMs: 20, launcherDir, launcher: flavour });
    assert.equal(await fresh.reattach(h), 'running');
    assert.deepEqual(await fresh.wait(h), { exit_code: 5 });
    // The new runtime starts its tasks through the same launcher.
    const pid = await ownPid();
    const h2 = await start(spec(['/bin/true']), fresh);
    assert.deepEqual(await fresh.wait(h2), { exit_code: 0 });
    assert.equal(await ownPid(), pid);
  });

  test('the launcher killed under a running task: the task runs on, its end is reported lost (no exit code)', async () => {
    const h = await start(spec(['/bin/sh', '-c', 'sleep 0.3; exit 3']));
    process.kill(await ownPid(), 'SIGKILL');
    const fresh = new ProcessRuntime({ pollMs: 20, launcherDir, launcher: flavour });
    assert.equal(await fresh.reattach(h), 'running');
    await waitFor(async () => !(await isLive(h.pid!, h.proc_start)));
    assert.equal(await fresh.reattach(h), 'lost');
    await assert.rejects(rt.wait(h), (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure');
    // A new launcher is started for the next task.
    const h2 = await start(spec(['/bin/sh', '-c', 'exit 4']));
    assert.deepEqual(await rt.wait(h2), { exit_code: 4 });
  });
});

describe('launcher choice (auto)', () => {
  test('python3 missing, too old, or silent: the Node launcher starts instead and runs the task', async () => {
    const fakes = join(root, 'fake-pythons');
    await mkdir(fakes, { recursive: true });
    // "too old": launcher.py exits 3 on Python < 3.8; this stand-in does the same without Python.
    const old = join(fakes, 'python-too-old');
    await writeFile(old, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    for (const [i, python] of [join(fakes, 'no-such-python'), old].entries()) {
      const launcherDir = join(root, `launcher-auto-${i}`);
      const rt = new ProcessRuntime({ pollMs: 20, launcherDir, launcher: 'auto', launcherPython: python });
      const h = await startOn(rt, spec(['/bin/sh', '-c', 'exit 6']));
      assert.deepEqual(await rt.wait(h), { exit_code: 6 });
      const pid = await launcherPid(launcherDir);
      assert.ok((await cmdline(pid)).some((a) => a.endsWith('launcher.cjs')), `launcher ${i} is the Node one`);
      process.kill(pid, 'SIGKILL');
    }
  });

  test('the python launcher ignores the PYTHON* variables of the agent (isolated mode)', async () => {
    const launcherDir = join(root, 'launcher-isolated');
    const evil = join(root, 'evil-site');
    await mkdir(evil, { recursive: true });
    // A module that would break the launcher if it were imported through PYTHONPATH.
    await writeFile(join(evil, 'json.py'), 'raise SystemExit(9)\n');
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = evil;
    try {
      const rt = new ProcessRuntime({ pollMs: 20, launcherDir, launcher: 'python' });
      const h = await startOn(rt, spec(['/bin/true']));
      assert.deepEqual(await rt.wait(h), { exit_code: 0 });
      process.kill(await launcherPid(launcherDir), 'SIGKILL');
    } finally {
      if (saved === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = saved;
    }
  });
});

/**
 * The process runtime: the entrypoint's argv runs directly (no shell parses it) in a new session
 * and process group, detached from the agent so that an agent restart (kill -9 included) leaves it
 * running. A tiny `/bin/sh` wrapper is the group leader: it runs argv verbatim as a foreground
 * child ("$@"), and writes the child's exit status to <run_dir>/exit. It traps TERM/INT/HUP/QUIT
 * with a no-op handler (not an ignore, which would be inherited by the child): a signal to the
 * whole group reaches the child with default handling, and the wrapper still records the status.
 * With `launcherDir` a resident launcher (launcher.ts) starts argv directly instead and writes the
 * exit file itself; the wrapper remains the fallback (launcher unreachable, program not startable:
 * the wrapper's shell then gives the usual 127/126).
 */
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { TaskFailure } from '../../shared/errors.js';
import { iso, systemClock, type Clock } from '../../shared/time.js';
import { catchesSignal, groupExists, hasExecedChild, isLive, signalGroup } from './proc-fs.js';
import { LaunchError, LauncherClient, type LauncherFlavour } from './launcher.js';
import { Spawner } from './spawner.js';
import type { ExitResult, Runtime, RuntimeHandle, StartSpec } from './types.js';

const WRAPPER = [
  'trap "s=143" TERM; trap "s=130" INT; trap "s=129" HUP; trap "s=131" QUIT',
  'f=$1; shift',
  // Stopped before the task even started: record that instead of starting it.
  'if [ -n "$s" ]; then printf "%s\\n" "$s" > "$f"; exit "$s"; fi',
  '"$@"',
  'c=$?',
  // No temp file + mv (one more process per task): the file is read only once this wrapper is gone,
  // so a reader never sees it half-written; a wrapper killed mid-write leaves it empty (see readExit).
  'printf "%s\\n" "$c" > "$f"',
  'exit $c',
].join('\n');

export const EXIT_FILE = 'exit';
/** Written by stop() before SIGKILL: the wrapper dies too, so this is how wait() knows why. */
export const KILLED_FILE = 'killed';

export interface ProcessRuntimeOptions {
  /** Environment the task starts from (default: the agent's, without FETCHML_* secrets). */
  baseEnv?: NodeJS.ProcessEnv;
  /** How often wait()/stop() look at /proc when there is no child handle (after reattach). */
  pollMs?: number;
  clock?: Clock;
  spawner?: Spawner;
  /** Where the resident launcher keeps its socket and pid file (the agent's data dir); none: the wrapper only. */
  launcherDir?: string;
  /** Which launcher flavour to start (launcher.ts); default auto. */
  launcher?: LauncherFlavour;
  /** Interpreter for the python flavour (default python3 on PATH). */
  launcherPython?: string;
}

/** The agent's environment minus anything of FetchML's own (the agent token must not reach tasks). */
export function taskBaseEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('FETCHML_')) out[k] = v;
  return out;
}

/** Exit status as a shell reports it (128 + n for a signal) → ExitResult. */
export function exitResultFromStatus(code: number): ExitResult {
  if (code > 128 && code < 128 + 65) {
    const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return { exit_code: code, signal: name };
  }
  return { exit_code: code };
}

export class ProcessRuntime implements Runtime {
  readonly kind = 'process' as const;
  private readonly children = new Map<number, { hold: () => () => void; exited: Promise<void>; observed: Promise<boolean> }>();
  private readonly spawner: Spawner;
  private readonly launcher: LauncherClient | undefined;
  /** How wrappers started here ended, for the rare case that one died before writing its exit file. */
  private readonly endings = new Map<number, NodeJS.Signals | null>();
  private readonly baseEnv: Record<string, string>;
  private readonly pollMs: number;
  private readonly clock: Clock;

  constructor(opts: ProcessRuntimeOptions = {}) {
    this.baseEnv = taskBaseEnv(opts.baseEnv);
    this.pollMs = opts.pollMs ?? 100;
    this.clock = opts.clock ?? systemClock;
    this.spawner = opts.spawner ?? new Spawner();
    const launcher = opts.launcherDir === undefined ? undefined : new LauncherClient(opts.launcherDir, opts.launcher, opts.launcherPython);
    this.launcher = launcher?.usable ? launcher : undefined;
  }

  async start(spec: StartSpec): Promise<RuntimeHandle> {
    if (spec.argv.length === 0 || !spec.argv[0]) throw new TaskFailure('entrypoint', 'empty argv');
    // Synchronous: tiny metadata operations, far cheaper in-thread than through the libuv pool.
    const madeRun = mkdirSync(spec.run_dir, { recursive: true });
    if (dirname(spec.log_file) !== dirname(spec.run_dir)) mkdirSync(dirname(spec.log_file), { recursive: true });
    // A new epoch of the same task must not find the previous one's exit status (a run dir made
    // just now has none).
    if (madeRun === undefined) {
      removeIfThere(join(spec.run_dir, EXIT_FILE));
      removeIfThere(join(spec.run_dir, KILLED_FILE));
    }
    const env: Record<string, string> = {
      ...this.baseEnv,
      ...spec.env,
      // Indices only, and an empty string when no GPU is granted: a task never sees all GPUs.
      CUDA_VISIBLE_DEVICES: spec.gpus.indices.join(','),
    };
    let started: Awaited<ReturnType<Spawner['spawn']>> | undefined;
    const exitFile = join(spec.run_dir, EXIT_FILE);
    if (this.launcher) {
      try {
        started = await this.launcher.spawn({ file: spec.argv[0], args: spec.argv.slice(1), cwd: spec.workspace, env, log: spec.log_file, exit_file: exitFile });
      } catch (err) {
        if (err instanceof LaunchError && !existsSync(spec.workspace)) {
          throw new TaskFailure('infrastructure', `could not start the task process in ${spec.workspace}: ${err.message}`);
        }
        // Otherwise the wrapper below: its shell reports a missing program as 127, like a terminal.
      }
    }
    if (!started) try {
      started = await this.spawner.spawn({
        file: '/bin/sh',
        args: ['-c', WRAPPER, 'fetchml-task', join(spec.run_dir, EXIT_FILE), ...spec.argv],
        cwd: spec.workspace,
        env,
        log: spec.log_file,
      });
    } catch (err) {
      throw new TaskFailure('infrastructure', `could not start the task process in ${spec.workspace}: ${(err as Error).message}`);
    }
    const pid = started.pid;
    const observed = started.exited;
    const exited = started.exited.then(
      (signal) => {
        this.endings.set(pid, signal);
      },
      // The spawn thread died: wait() falls back to watching /proc.
      () => undefined,
    );
    this.children.set(pid, { hold: started.hold, exited, observed: observed.then(() => true, () => false) });
    void exited.then(() => this.children.delete(pid));
    const handle: RuntimeHandle = {
      runtime: 'process',
      task_id: spec.task_id,
      epoch: spec.epoch,
      log_file: spec.log_file,
      run_dir: spec.run_dir,
      started_at: iso(this.clock.now()),
      pid,
    };
    if (started.proc_start) handle.proc_start = started.proc_start;
    return handle;
  }

  async wait(handle: RuntimeHandle): Promise<ExitResult> {
    const pid = requirePid(handle);
    const own = this.children.get(pid);
    // Keep the agent alive while someone waits; otherwise running tasks do not hold up an agent
    // that shuts down (they outlive it by design).
    const release = own?.hold();
    try {
      // A short task may be reaped before anyone waits: its ending is known, /proc need not be read.
      const seen = own ? await own.observed : this.endings.has(pid);
      if (!seen) while (await isLive(pid, handle.proc_start)) await delay(this.pollMs);
    } finally {
      release?.();
    }
    try {
      return await readExitSoon(handle);
    } catch (err) {
      const signal = this.endings.get(pid);
      if (signal) return { exit_code: 128 + (osConstants.signals[signal] ?? 0), signal };
      throw err;
    }
  }

  async stop(handle: RuntimeHandle, graceMs: number): Promise<void> {
    const pid = requirePid(handle);
    if (!(await isLive(pid, handle.proc_start)) && !this.children.has(pid)) return;
    // A stop right after start could hit the wrapper before its trap is set (status lost) or before
    // it started the task (which would then miss the signal): wait briefly until both are done.
    const trapDeadline = Date.now() + Math.min(graceMs, 1000);
    const ready = async () => !isWrapper(pid) || ((await catchesSignal(pid, osConstants.signals.SIGTERM)) && (await hasExecedChild(pid)));
    while (Date.now() < trapDeadline && !(await ready()) && (await isLive(pid, handle.proc_start))) {
      await delay(5);
    }
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && (await isLive(pid, handle.proc_start))) await delay(Math.min(this.pollMs, 50));
    if (await isLive(pid, handle.proc_start)) {
      await writeFile(join(handle.run_dir, KILLED_FILE), `${iso(this.clock.now())}\n`).catch(() => undefined);
    }
    // Also when the wrapper has exited: whatever the task left behind in its group goes with it.
    if (groupExists(pid)) signalGroup(pid, 'SIGKILL');
  }

  async reattach(handle: RuntimeHandle): Promise<'running' | 'exited' | 'lost'> {
    const pid = requirePid(handle);
    if (await isLive(pid, handle.proc_start)) return 'running';
    try {
      await readExitSoon(handle);
      return 'exited';
    } catch {
      return 'lost';
    }
  }

  async cleanup(handle: RuntimeHandle): Promise<void> {
    if (handle.pid) this.endings.delete(handle.pid);
    for (const f of [EXIT_FILE, `${EXIT_FILE}.tmp`, KILLED_FILE]) removeIfThere(join(handle.run_dir, f));
  }
}

/** unlink, not rm: one system call where rm lstat()s twice first; a file that is not there is fine. */
function removeIfThere(file: string): void {
  // existsSync first: a missing file is the usual case, and a failed unlink costs an Error with a stack.
  if (!existsSync(file)) return;
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function readSmall(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function readExit(handle: RuntimeHandle): Promise<ExitResult> {
  const text = readSmall(join(handle.run_dir, EXIT_FILE));
  const code = text === undefined ? NaN : Number.parseInt(text.trim(), 10);
  if (Number.isInteger(code)) return exitResultFromStatus(code);
  const killed = readSmall(join(handle.run_dir, KILLED_FILE));
  if (killed !== undefined) return { exit_code: 128 + 9, signal: 'SIGKILL' };
  throw new TaskFailure('infrastructure', `task process ${handle.pid} is gone and its exit status was not recorded`);
}

/** Task processes started by the launcher are not the wrapper: they need no wait for its trap. */
function isWrapper(pid: number): boolean {
  return readSmall(`/proc/${pid}/cmdline`)?.includes('\0fetchml-task\0') ?? false;
}

/**
 * The launcher writes the exit file just after it reaps the task, so a task seen gone through
 * /proc (after a reattach) may not have it yet: look again for a moment before calling it lost.
 * A launcher that died meanwhile leaves no file: lost, an infrastructure failure (docs/agent.md).
 */
async function readExitSoon(handle: RuntimeHandle): Promise<ExitResult> {
  for (let i = 0; ; i++) {
    try {
      return await readExit(handle);
    } catch (err) {
      if (i >= 20) throw err;
      await delay(25);
    }
  }
}

function requirePid(handle: RuntimeHandle): number {
  if (handle.runtime !== 'process' || !handle.pid) throw new Error(`not a process handle: ${JSON.stringify(handle)}`);
  return handle.pid;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

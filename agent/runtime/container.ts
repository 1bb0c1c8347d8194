/**
 * The docker and podman runtimes: one implementation driving either CLI through execa. Containers
 * are named fetchml-<task>-<epoch> and labelled fetchml.task / fetchml.epoch, so that a restarted
 * agent finds them again. GPUs are granted by UUID (docker `--gpus`, podman CDI `--device`), and
 * NVIDIA_VISIBLE_DEVICES says the same (or `void`, so an image that bakes in `all` sees none).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { TaskFailure } from '../../shared/errors.js';
import { iso, systemClock, type Clock } from '../../shared/time.js';
import { exitResultFromStatus } from './process.js';
import type { ExitResult, PublishedPort, Runtime, RuntimeHandle, StartSpec } from './types.js';

export interface ContainerRuntimeOptions {
  cli: 'docker' | 'podman';
  /** The executable (default: the CLI name, found on PATH). */
  command?: string;
  /** Flags before the subcommand on every call (sites: --storage-driver, --root, --runtime …). */
  globalFlags?: string[];
  /** Extra flags for `run` (sites: --ulimit, --security-opt …). */
  runFlags?: string[];
  /** Image for tasks that name none. */
  defaultImage?: string;
  /** Environment of the CLI calls (PATH decides which docker/podman runs). */
  env?: NodeJS.ProcessEnv;
  /** Limit for `run -d` (it may pull an image). */
  runTimeoutMs?: number;
  clock?: Clock;
}

/** Written to run_dir: the log file's size when container output began (so a re-follow appends only new bytes). */
const LOG_BASE_FILE = 'log-base';

/** Container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
export function containerName(taskId: string, epoch: number): string {
  return `fetchml-${taskId.replace(/[^a-zA-Z0-9_.-]/g, '_')}-${epoch}`;
}

/** The `run` argv (after the global flags), pure so that it is tested without an engine. */
export function buildRunArgs(cli: 'docker' | 'podman', spec: StartSpec, image: string, runFlags: string[] = []): string[] {
  const args = ['run', '-d', '--name', containerName(spec.task_id, spec.epoch)];
  args.push('--label', `fetchml.task=${spec.task_id}`, '--label', `fetchml.epoch=${spec.epoch}`);
  const uuids = spec.gpus.uuids;
  if (uuids.length > 0) {
    if (cli === 'docker') args.push('--gpus', `"device=${uuids.join(',')}"`); // inner quotes: docker parses the value as CSV
    else for (const u of uuids) args.push('--device', `nvidia.com/gpu=${u}`);
  }
  for (const p of [spec.workspace, ...spec.mounts.flatMap((m) => [m.host, m.container])]) {
    if (p.includes(':') || p.includes(',')) throw new TaskFailure('infrastructure', `cannot bind-mount a path containing ':' or ',': ${p}`);
  }
  args.push('-v', `${spec.workspace}:/workspace`, '-w', '/workspace');
  for (const m of spec.mounts) args.push('-v', `${m.host}:${m.container}${m.readonly ? ':ro' : ''}`);
  if (spec.cpu !== undefined && spec.cpu > 0) args.push('--cpus', String(spec.cpu));
  if (spec.memory_gb !== undefined && spec.memory_gb > 0) args.push('--memory', `${Math.max(6, Math.round(spec.memory_gb * 1024))}m`);
  const env: Record<string, string> = { ...spec.env, NVIDIA_VISIBLE_DEVICES: uuids.length > 0 ? uuids.join(',') : 'void' };
  delete env.CUDA_VISIBLE_DEVICES; // inside the container the granted GPUs are renumbered from 0
  const siteNetwork = networkFlag(runFlags);
  const hostNetwork = siteNetwork === 'host' || (siteNetwork === undefined && spec.network === 'host');
  // A site's own --network (run flags) wins over ours.
  if (spec.network === 'host' && siteNetwork === undefined) args.push('--network', 'host');
  const publish = publishFlags(spec.publish ?? []);
  if (!hostNetwork && publish.length > 0) {
    args.push(...publish);
    // The host address belongs in the publish flag; inside its own network the service listens on every interface.
    if (env.FETCHML_SERVICE_BIND !== undefined) env.FETCHML_SERVICE_BIND = '0.0.0.0';
  }
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  args.push(...runFlags, image, ...spec.argv);
  return args;
}

/** `--publish host:port:port/tcp` for each port (docker and podman read the same form); bad values throw. */
export function publishFlags(ports: PublishedPort[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of ports) {
    const port = p?.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TaskFailure('infrastructure', `cannot publish port ${String(port)}: not a TCP port (1-65535)`);
    }
    const host = typeof p.host === 'string' ? p.host.trim() : '';
    const family = isIP(host);
    if (family === 0) throw new TaskFailure('infrastructure', `cannot publish port ${port} on ${JSON.stringify(p.host)}: not an IP address (FETCHML_SERVICE_BIND)`);
    const value = `${family === 6 ? `[${host}]` : host}:${port}:${port}/tcp`;
    if (seen.has(value)) continue;
    seen.add(value);
    out.push('--publish', value);
  }
  return out;
}

/** The network a site's run flags choose (`--network X`, `--net=X` …), if any. */
function networkFlag(runFlags: string[]): string | undefined {
  let found: string | undefined;
  runFlags.forEach((f, i) => {
    const m = /^--net(?:work)?(?:=(.*))?$/.exec(f);
    if (m) found = m[1] ?? runFlags[i + 1] ?? '';
  });
  return found;
}

export class ContainerRuntime implements Runtime {
  readonly kind: 'docker' | 'podman';
  private readonly command: string;
  private readonly global: string[];
  private readonly followers = new Map<string, { child: ChildProcess; done: Promise<void> }>();

  constructor(private readonly opts: ContainerRuntimeOptions) {
    this.kind = opts.cli;
    this.command = opts.command ?? opts.cli;
    this.global = opts.globalFlags ?? [];
  }

  private async cli(args: string[], timeoutMs = 60_000) {
    return execa(this.command, [...this.global, ...args], {
      env: this.opts.env ?? process.env,
      extendEnv: false,
      timeout: timeoutMs,
      reject: false,
      stdin: 'ignore',
    });
  }

  async start(spec: StartSpec): Promise<RuntimeHandle> {
    const image = spec.image ?? this.opts.defaultImage;
    if (!image) throw new TaskFailure('infrastructure', `the task names no image and the ${this.kind} runtime has no default image`);
    if (spec.argv.length === 0) throw new TaskFailure('entrypoint', 'empty argv');
    await mkdir(spec.run_dir, { recursive: true });
    await mkdir(dirname(spec.log_file), { recursive: true });
    const name = containerName(spec.task_id, spec.epoch);
    const args = buildRunArgs(this.kind, spec, image, this.opts.runFlags);
    let r = await this.cli(args, this.opts.runTimeoutMs ?? 30 * 60_000);
    if (r.exitCode !== 0 && /already in use/i.test(String(r.stderr))) {
      // A leftover from an agent that died between `run` and persisting the handle.
      await this.cli(['rm', '-f', name]);
      r = await this.cli(args, this.opts.runTimeoutMs ?? 30 * 60_000);
    }
    if (r.exitCode !== 0) throw runFailure(this.kind, image, r);
    const base = await stat(spec.log_file).then((s) => s.size, () => 0);
    await writeFile(join(spec.run_dir, LOG_BASE_FILE), String(base));
    const handle: RuntimeHandle = {
      runtime: this.kind,
      task_id: spec.task_id,
      epoch: spec.epoch,
      log_file: spec.log_file,
      run_dir: spec.run_dir,
      started_at: iso((this.opts.clock ?? systemClock).now()),
      container: name,
    };
    await this.follow(handle);
    return handle;
  }

  /** `logs -f` into the log file, appending only what the file does not hold yet. */
  private async follow(handle: RuntimeHandle): Promise<void> {
    const name = requireContainer(handle);
    if (this.followers.has(name)) return;
    const base = Number(await readFile(join(handle.run_dir, LOG_BASE_FILE), 'utf8').catch(() => '0')) || 0;
    const size = await stat(handle.log_file).then((s) => s.size, () => 0);
    let skip = Math.max(0, size - base);
    const out = await open(handle.log_file, 'a');
    const child = spawn(this.command, [...this.global, 'logs', '-f', name], { env: this.opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let writing = Promise.resolve();
    const onData = (chunk: Buffer) => {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        return;
      }
      const data = chunk.subarray(skip);
      skip = 0;
      writing = writing.then(() => out.write(data).then(() => undefined));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const done = new Promise<void>((resolve) => {
      child.once('error', () => resolve());
      child.once('close', () => resolve());
    }).then(async () => {
      await writing.catch(() => undefined);
      await out.close();
      this.followers.delete(name);
    });
    this.followers.set(name, { child, done });
  }

  async wait(handle: RuntimeHandle): Promise<ExitResult> {
    const name = requireContainer(handle);
    const r = await this.cli(['wait', name], 0);
    const code = Number.parseInt(String(r.stdout).trim().split('\n').pop() ?? '', 10);
    if (r.exitCode !== 0 || !Number.isInteger(code)) {
      throw new TaskFailure('infrastructure', `${this.kind} wait ${name} failed: ${tail(r.stderr) || 'no exit code'}`);
    }
    // The log is complete once `logs -f` has seen the container stop; do not wait forever on it.
    const f = this.followers.get(name);
    if (f) await Promise.race([f.done, delay(5000)]);
    return exitResultFromStatus(code);
  }

  async stop(handle: RuntimeHandle, graceMs: number): Promise<void> {
    const name = requireContainer(handle);
    const secs = Math.max(0, Math.ceil(graceMs / 1000));
    const r = await this.cli(['stop', '-t', String(secs), name], graceMs + 30_000);
    // An engine that cannot stop it gracefully still has to get rid of it.
    if (r.exitCode !== 0 && !/no such container/i.test(String(r.stderr))) await this.cli(['rm', '-f', name]);
  }

  async reattach(handle: RuntimeHandle): Promise<'running' | 'exited' | 'lost'> {
    const name = requireContainer(handle);
    const r = await this.cli(['inspect', '--format', '{{.State.Status}}', name]);
    if (r.exitCode !== 0) return 'lost';
    const status = String(r.stdout).trim().toLowerCase();
    if (!status) return 'lost';
    await this.follow(handle); // catch up on output written while the agent was away
    return ['exited', 'dead', 'stopped'].includes(status) ? 'exited' : 'running';
  }

  async cleanup(handle: RuntimeHandle): Promise<void> {
    const name = requireContainer(handle);
    const f = this.followers.get(name);
    if (f) {
      await Promise.race([f.done, delay(2000)]);
      f.child.kill('SIGKILL');
    }
    await this.cli(['rm', '-f', name]);
    await rm(join(handle.run_dir, LOG_BASE_FILE), { force: true });
  }

  /** Names of all containers carrying a fetchml.task label (for finding orphans after a restart). */
  async listManaged(): Promise<string[]> {
    const r = await this.cli(['ps', '-a', '--filter', 'label=fetchml.task', '--format', '{{.Names}}']);
    if (r.exitCode !== 0) throw new TaskFailure('infrastructure', `${this.kind} ps failed: ${tail(r.stderr)}`);
    return String(r.stdout).split('\n').map((s) => s.trim()).filter(Boolean);
  }
}

function runFailure(cli: string, image: string, r: { exitCode?: number | undefined; stderr: unknown; code?: string; shortMessage?: string }): TaskFailure {
  const err = tail(r.stderr) || r.shortMessage || 'unknown error';
  if (r.code === 'ENOENT' || /ENOENT/.test(r.shortMessage ?? '')) return new TaskFailure('infrastructure', `${cli} is not installed or not on PATH`);
  // 126/127: the engine ran, but the entrypoint could not be executed in the image.
  if (r.exitCode === 126 || r.exitCode === 127) return new TaskFailure('entrypoint', `${cli} could not run the entrypoint in ${image}: ${err}`);
  return new TaskFailure('infrastructure', `${cli} run ${image} failed: ${err}`);
}

function requireContainer(handle: RuntimeHandle): string {
  if (!handle.container) throw new Error(`not a container handle: ${JSON.stringify(handle)}`);
  return handle.container;
}

function tail(s: unknown): string {
  return String(s ?? '').trim().split('\n').slice(-3).join(' | ').slice(0, 500);
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

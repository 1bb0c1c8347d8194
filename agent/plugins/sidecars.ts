/**
 * The sidecars of one task: started before the entrypoint, health-checked while it runs, stopped
 * when it ends. A sidecar that cannot run (tool not installed, never answers) is reported
 * unhealthy with the reason, and the task runs anyway: tracking must never block training.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { PluginConfig, PluginStatus } from '../../shared/api-types.js';
import { sidecarPlugins, type BuiltinPlugin } from '../../shared/plugins.js';
import { iso, type Clock } from '../../shared/time.js';
import { probeOnce, waitUntilUp, type ProbeDeps } from '../daemon/service-probe.js';
import { sidecarSpec, type SidecarContext, type SidecarSpec } from './sidecar-spec.js';

export interface SidecarDeps extends ProbeDeps {
  clock: Clock;
  freePort: () => Promise<number>;
  /** Is this program on PATH? */
  which: (program: string) => Promise<boolean>;
  env: NodeJS.ProcessEnv;
  readyTimeoutMs: number;
  stopGraceMs: number;
}

export async function onPath(program: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (program.includes('/')) return access(program, constants.X_OK).then(() => true, () => false);
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && (await access(join(dir, program), constants.X_OK).then(() => true, () => false))) return true;
  }
  return false;
}

interface Running {
  spec: SidecarSpec;
  child: ChildProcess;
  exited?: string;
}

export class Sidecars {
  readonly statuses: Record<string, PluginStatus> = {};
  private readonly running = new Map<string, Running>();
  private stopped = false;

  constructor(private readonly d: SidecarDeps) {}

  private set(name: string, status: PluginStatus['status'], extra: { url?: string; message?: string } = {}): void {
    this.statuses[name] = { name, status, last_check: iso(this.d.clock.now()), ...extra };
  }

  /**
   * Starts every sidecar-mode plugin of `configs` and waits (bounded) for each to answer.
   * Returns the variables that point the task at them. `logDir` receives sidecar-<name>.log.
   */
  async start(configs: Record<string, PluginConfig> | undefined, c: Omit<SidecarContext, 'port'>, logDir: string, signal?: AbortSignal): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    const waits: Promise<void>[] = [];
    for (const [name, cfg] of sidecarPlugins(configs)) {
      try {
        await this.startOne(name, cfg, c, logDir, env, waits, signal);
      } catch (err) {
        // Never fails the task: the sidecar is reported unhealthy with the reason.
        this.set(name, 'unhealthy', { message: `sidecar could not start: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
    await Promise.all(waits);
    return env;
  }

  private async startOne(
    name: BuiltinPlugin,
    cfg: PluginConfig,
    c: Omit<SidecarContext, 'port'>,
    logDir: string,
    env: Record<string, string>,
    waits: Promise<void>[],
    signal?: AbortSignal,
  ): Promise<void> {
    const spec = sidecarSpec(name, cfg, { ...c, port: await this.d.freePort() });
    if ('unsupported' in spec) {
      this.set(name, 'unhealthy', { message: spec.unsupported });
      return;
    }
    if (!(await this.d.which(spec.tool))) {
      this.set(name, 'unhealthy', { message: `${spec.tool} is not installed on this agent (not on PATH); the task runs without its ${name} sidecar` });
      return;
    }
    this.set(name, 'starting', { url: spec.url });
    const out = await open(join(logDir, `sidecar-${name}.log`), 'a');
    let child: ChildProcess;
    try {
      child = spawn(spec.argv[0]!, spec.argv.slice(1), { cwd: c.workspace, env: this.d.env, stdio: ['ignore', out.fd, out.fd], detached: true });
    } finally {
      await out.close(); // the child has its own copy of the descriptor
    }
    const r: Running = { spec, child };
    this.running.set(name, r);
    child.once('error', (err) => (r.exited = err.message));
    child.once('exit', (code, sig) => {
      r.exited = `exited with ${sig ?? `code ${code}`}`;
      if (!this.stopped) this.set(name, 'unhealthy', { url: spec.url, message: `sidecar ${r.exited}; see sidecar-${name}.log` });
    });
    Object.assign(env, spec.env);
    waits.push(
      waitUntilUp(spec.url + spec.health_path, { timeoutMs: this.d.readyTimeoutMs, intervalMs: 200, ...(signal ? { signal } : {}) }, this.d).then((res) => {
        if (r.exited) return;
        if (res.ok) this.set(name, 'healthy', { url: spec.url });
        else this.set(name, 'unhealthy', { url: spec.url, message: res.reason });
      }),
    );
  }

  /** Probes every running sidecar once (the owner repeats it). */
  async check(): Promise<void> {
    for (const [name, r] of this.running) {
      if (r.exited || this.stopped) continue;
      const res = await probeOnce(r.spec.url + r.spec.health_path, this.d.fetch);
      if (!this.stopped && !r.exited) this.set(name, res.ok ? 'healthy' : 'unhealthy', { url: r.spec.url, ...(res.ok ? {} : { message: res.reason }) });
    }
  }

  /** SIGTERM to each sidecar's process group, SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [...this.running].map(async ([name, r]) => {
        if (!r.exited && r.child.pid) {
          const gone = new Promise<void>((res) => (r.child.exitCode !== null || r.child.signalCode !== null ? res() : r.child.once('exit', () => res())));
          kill(r.child.pid, 'SIGTERM');
          const t = setTimeout(() => r.child.pid && kill(r.child.pid, 'SIGKILL'), this.d.stopGraceMs);
          await gone;
          clearTimeout(t);
        }
        if (r.spec.container) await removeContainer(r.spec.argv[0]!, r.spec.container, this.d.env);
        this.set(name, 'stopped', { url: r.spec.url });
      }),
    );
  }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

/** `docker|podman rm -f` for a container sidecar whose client was signalled (best effort). */
function removeContainer(cli: string, name: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((res) => {
    const c = spawn(cli, ['rm', '-f', name], { env, stdio: 'ignore' });
    c.once('error', () => res());
    c.once('exit', () => res());
  });
}

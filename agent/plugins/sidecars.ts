/**
 * The sidecars of one task: started before the entrypoint, health-checked while it runs, stopped
 * when it ends. A sidecar that cannot run (tool not installed, never answers) is reported
 * unhealthy with the reason, and the task runs anyway: tracking must never block training.
 * Sidecars outlive an agent restart: `records()` is persisted with the task, and `resume()` in the
 * restarted agent adopts the live ones and restarts the dead ones on their old port.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { PluginConfig, PluginStatus } from '../../shared/api-types.js';
import { isBuiltinPlugin, sidecarPlugins, type BuiltinPlugin } from '../../shared/plugins.js';
import { iso, type Clock } from '../../shared/time.js';
import { probeOnce, waitUntilUp, type ProbeDeps } from '../daemon/service-probe.js';
import { loopbackPortFree, sidecarLive, spawnSidecar, stopSidecar, type SidecarProcess } from './sidecar-process.js';
import { sidecarSpec, type SidecarContext, type SidecarSpec } from './sidecar-spec.js';

export interface SidecarDeps extends ProbeDeps {
  clock: Clock;
  freePort: () => Promise<number>;
  /** Is this program on PATH? */
  which: (program: string) => Promise<boolean>;
  env: NodeJS.ProcessEnv;
  readyTimeoutMs: number;
  stopGraceMs: number;
  /** Can a sidecar listen on this loopback port? (default: try to bind it) */
  portFree?: (port: number) => Promise<boolean>;
  /** Is pid still the process that started at `starttime`? (default: /proc) */
  isLive?: (pid: number, starttime: string) => Promise<boolean>;
}

/** What a task record keeps of one sidecar, so a restarted agent finds it again. */
export interface SidecarRecord {
  name: BuiltinPlugin;
  port: number;
  url: string;
  pid: number;
  starttime: string;
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
  port: number;
  proc: SidecarProcess;
  exited?: string;
}

type Context = Omit<SidecarContext, 'port'>;

/** A persisted record as read back from disk: anything malformed is dropped, never trusted. */
function validRecord(r: unknown): r is SidecarRecord {
  const x = r as Partial<SidecarRecord> | null;
  return (
    !!x && typeof x === 'object' && typeof x.name === 'string' && isBuiltinPlugin(x.name) &&
    Number.isInteger(x.port) && x.port! > 0 && x.port! < 65536 && Number.isInteger(x.pid) && x.pid! > 1 && typeof x.starttime === 'string'
  );
}

export class Sidecars {
  readonly statuses: Record<string, PluginStatus> = {};
  private readonly running = new Map<string, Running>();
  private stopped = false;

  constructor(private readonly d: SidecarDeps) {}

  private set(name: string, status: PluginStatus['status'], extra: { url?: string; message?: string } = {}): void {
    this.statuses[name] = { name, status, last_check: iso(this.d.clock.now()), ...extra };
  }

  private live(r: Running): Promise<boolean> {
    return sidecarLive(r.proc, this.d);
  }

  /**
   * Starts every sidecar-mode plugin of `configs` and waits (bounded) for each to answer.
   * Returns the variables that point the task at them. `logDir` receives sidecar-<name>.log.
   */
  async start(configs: Record<string, PluginConfig> | undefined, c: Context, logDir: string, signal?: AbortSignal): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    const waits: Promise<void>[] = [];
    for (const [name, cfg] of sidecarPlugins(configs)) {
      try {
        const spec = sidecarSpec(name, cfg, { ...c, port: await this.d.freePort() });
        if ('unsupported' in spec) {
          this.set(name, 'unhealthy', { message: spec.unsupported });
          continue;
        }
        const started = await this.launch(name, spec, c, logDir, signal);
        if (!started) continue;
        Object.assign(env, spec.env);
        waits.push(started.ready);
      } catch (err) {
        // Never fails the task: the sidecar is reported unhealthy with the reason.
        this.set(name, 'unhealthy', { message: `sidecar could not start: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
    await Promise.all(waits);
    return env;
  }

  /** Starts one sidecar; resolves to its readiness wait, or undefined when its tool is missing. */
  private async launch(name: BuiltinPlugin, spec: SidecarSpec, c: Context, logDir: string, signal?: AbortSignal): Promise<{ ready: Promise<void> } | undefined> {
    if (!(await this.d.which(spec.tool))) {
      this.set(name, 'unhealthy', { message: `${spec.tool} is not installed on this agent (not on PATH); the task runs without its ${name} sidecar` });
      return undefined;
    }
    this.set(name, 'starting', { url: spec.url });
    const proc = await spawnSidecar(spec.argv, { cwd: c.workspace, env: this.d.env, logFile: join(logDir, `sidecar-${name}.log`) });
    const r: Running = { spec, port: Number(new URL(spec.url).port), proc };
    this.running.set(name, r);
    proc.child?.once('error', (err) => (r.exited = err.message));
    proc.child?.once('exit', (code, sig) => this.exited(name, r, `exited with ${sig ?? `code ${code}`}`));
    const ready = waitUntilUp(spec.url + spec.health_path, { timeoutMs: this.d.readyTimeoutMs, intervalMs: 200, ...(signal ? { signal } : {}) }, this.d).then((res) => {
      if (r.exited || this.stopped) return;
      if (res.ok) this.set(name, 'healthy', { url: spec.url });
      else this.set(name, 'unhealthy', { url: spec.url, message: res.reason });
    });
    return { ready };
  }

  private exited(name: string, r: Running, why: string): void {
    if (r.exited) return;
    r.exited = why;
    if (!this.stopped) this.set(name, 'unhealthy', { url: r.spec.url, message: `sidecar ${why}; see sidecar-${name}.log` });
  }

  /** The sidecars that run, for the task record. */
  records(): SidecarRecord[] {
    return [...this.running].filter(([, r]) => !r.exited).map(([name, r]) => ({ name: name as BuiltinPlugin, port: r.port, url: r.spec.url, pid: r.proc.pid, starttime: r.proc.starttime }));
  }

  /**
   * After an agent restart, while the task still runs: adopts each recorded sidecar that is still
   * the same live process, and restarts one that died on its old port (the task's variables point
   * there). A port now taken by something else leaves it unhealthy with the reason. Adopted ones
   * are probed before this returns; `ready` settles when restarted ones answer (or time out).
   */
  async resume(saved: unknown, configs: Record<string, PluginConfig> | undefined, c: Context, logDir: string, signal?: AbortSignal): Promise<{ ready: Promise<void> }> {
    const recs = new Map((Array.isArray(saved) ? saved : []).filter(validRecord).map((r) => [r.name, r] as const));
    const probes: Promise<void>[] = [];
    const waits: Promise<void>[] = [];
    for (const [name, cfg] of sidecarPlugins(configs)) {
      try {
        const rec = recs.get(name);
        if (!rec) {
          // It never ran (tool missing, unsupported, failed to start): say so again, start nothing.
          const spec = sidecarSpec(name, cfg, { ...c, port: 1 });
          if ('unsupported' in spec) this.set(name, 'unhealthy', { message: spec.unsupported });
          else if (!(await this.d.which(spec.tool))) this.set(name, 'unhealthy', { message: `${spec.tool} is not installed on this agent (not on PATH); the task runs without its ${name} sidecar` });
          else this.set(name, 'unhealthy', { message: 'the sidecar was not running when the agent restarted' });
          continue;
        }
        const spec = sidecarSpec(name, cfg, { ...c, port: rec.port });
        if ('unsupported' in spec) continue;
        const r: Running = { spec, port: rec.port, proc: { pid: rec.pid, starttime: rec.starttime } };
        if (await this.live(r)) {
          this.running.set(name, r);
          probes.push(this.checkOne(name, r));
          continue;
        }
        if (!(await (this.d.portFree ?? loopbackPortFree)(rec.port))) {
          this.set(name, 'unhealthy', { url: spec.url, message: `the sidecar died while the agent was down and cannot be restarted: port ${rec.port}, which the task was given, is taken by another process` });
          continue;
        }
        // A container sidecar's old container (if any) would hold the name.
        if (spec.container) await removeContainer(spec.argv[0]!, spec.container, this.d.env);
        const started = await this.launch(name, spec, c, logDir, signal);
        if (started) waits.push(started.ready);
      } catch (err) {
        this.set(name, 'unhealthy', { message: `sidecar could not be restarted: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
    await Promise.all(probes);
    return { ready: Promise.all(waits).then(() => undefined) };
  }

  private async checkOne(name: string, r: Running): Promise<void> {
    // An adopted sidecar is not this agent's child: its death is read from /proc.
    if (!r.proc.child && !(await this.live(r))) return this.exited(name, r, 'exited');
    const res = await probeOnce(r.spec.url + r.spec.health_path, this.d.fetch);
    if (!this.stopped && !r.exited) this.set(name, res.ok ? 'healthy' : 'unhealthy', { url: r.spec.url, ...(res.ok ? {} : { message: res.reason }) });
  }

  /** Probes every running sidecar once (the owner repeats it). */
  async check(): Promise<void> {
    for (const [name, r] of this.running) {
      if (r.exited || this.stopped) continue;
      await this.checkOne(name, r);
    }
  }

  /** SIGTERM to each sidecar's process group, SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [...this.running].map(async ([name, r]) => {
        if (!r.exited) await stopSidecar(r.proc, { ...this.d, sleep: (ms) => this.d.sleep(ms) });
        if (r.spec.container) await removeContainer(r.spec.argv[0]!, r.spec.container, this.d.env);
        this.set(name, 'stopped', { url: r.spec.url });
      }),
    );
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

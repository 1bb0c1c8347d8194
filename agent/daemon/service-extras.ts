/**
 * What a task gets beyond its entrypoint: a free port and a readiness probe when it is a service
 * (Jupyter), and its plugins' sidecars. Reported to control in task_report frames (port once the
 * service answers; sidecar health), so control can publish the service URL and Task.plugin_status.
 */
import { isIP } from 'node:net';
import type { Logger } from '../../shared/logger.js';
import { SERVICE_PORT_ENV, type TaskAssignment, type TaskReportMessage } from '../../shared/protocol.js';
import { systemClock, type Clock } from '../../shared/time.js';
import { onPath, Sidecars, type SidecarDeps, type SidecarRecord } from '../plugins/sidecars.js';
import { freeTcpPort } from './service-port.js';
import { realSleep, waitUntilUp } from './service-probe.js';

export interface ExtrasDeps extends Omit<SidecarDeps, 'readyTimeoutMs'> {
  send: (m: TaskReportMessage) => boolean;
  logger: Logger;
  /** Address services bind to (FETCHML_SERVICE_BIND, default 0.0.0.0: reachable by users). */
  bind: string;
  serviceReadyTimeoutMs: number;
  sidecarReadyTimeoutMs: number;
  /** Sidecar checks and repeated reports (FETCHML_SIDECAR_CHECK_SECONDS). */
  checkIntervalMs: number;
  /** Path a service answers on once up (Jupyter's /api). */
  readyPath: string;
}

const seconds = (v: string | undefined, dflt: number): number => {
  const n = Number(v);
  return v !== undefined && v.trim() !== '' && Number.isFinite(n) && n > 0 ? n * 1000 : dflt;
};

/** Defaults, overridable by FETCHML_SERVICE_READY_SECONDS, FETCHML_SIDECAR_READY_SECONDS, FETCHML_SIDECAR_CHECK_SECONDS. */
export function extrasDeps(send: ExtrasDeps['send'], logger: Logger, opts: { clock?: Clock; env?: NodeJS.ProcessEnv; stopGraceMs?: number } = {}): ExtrasDeps {
  const env = opts.env ?? process.env;
  // Sidecars get the agent's environment (PATH, HOME, proxies) but never its secrets.
  const sidecarEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !/^FETCHML_(AGENT_TOKEN|ADMIN_KEY|API_KEY)$/.test(k)));
  return {
    send,
    logger,
    clock: opts.clock ?? systemClock,
    fetch,
    sleep: realSleep,
    freePort: () => freeTcpPort(),
    which: (p) => onPath(p, env),
    env: sidecarEnv,
    bind: env.FETCHML_SERVICE_BIND || '0.0.0.0',
    serviceReadyTimeoutMs: seconds(env.FETCHML_SERVICE_READY_SECONDS, 120_000),
    sidecarReadyTimeoutMs: seconds(env.FETCHML_SIDECAR_READY_SECONDS, 30_000),
    checkIntervalMs: seconds(env.FETCHML_SIDECAR_CHECK_SECONDS, 10_000),
    stopGraceMs: opts.stopGraceMs ?? 5_000,
    readyPath: '/api',
  };
}

const TASK_ENDED = new Error('task ended');

/** Where the agent reaches a service bound to `bind`: loopback for a wildcard, else that address. */
export function probeHost(bind: string): string {
  const b = bind.trim();
  if (b === '' || b === '0.0.0.0' || b === '::' || b === '[::]') return '127.0.0.1';
  return isIP(b) === 6 ? `[${b}]` : b;
}

export class TaskExtras {
  private readonly sidecars: Sidecars;
  private readonly abort = new AbortController();
  private service: TaskReportMessage['service'];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly a: TaskAssignment, private readonly d: ExtrasDeps) {
    this.sidecars = new Sidecars({ ...d, readyTimeoutMs: d.sidecarReadyTimeoutMs });
  }

  private port(): number | undefined {
    const p = Number(this.a.env[SERVICE_PORT_ENV]);
    return Number.isInteger(p) && p > 0 && p < 65536 ? p : undefined;
  }

  private report(): void {
    const plugins = Object.keys(this.sidecars.statuses).length ? { plugin_status: { ...this.sidecars.statuses } } : {};
    if (!this.service && !plugins.plugin_status) return;
    this.d.send({ type: 'task_report', task_id: this.a.task_id, epoch: this.a.epoch, ...(this.service ? { service: this.service } : {}), ...plugins });
  }

  /**
   * Before the entrypoint starts: the service port (kept in the assignment's env, which is
   * persisted, so a restarted agent probes the same port) and the sidecars. Returns task variables.
   */
  async prepare(p: { workspace: string; run: string; runtime: 'process' | 'docker' | 'podman' }): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    if (this.a.slot_kind === 'service') {
      this.a.env[SERVICE_PORT_ENV] = String(this.port() ?? (await this.d.freePort()));
      env[SERVICE_PORT_ENV] = this.a.env[SERVICE_PORT_ENV];
      env.FETCHML_SERVICE_BIND = this.d.bind;
    }
    const workspaceSeen = p.runtime === 'process' ? p.workspace : '/workspace';
    Object.assign(env, await this.sidecars.start(this.a.plugin_configs, { task_id: this.a.task_id, workspace: p.workspace, task_workspace: workspaceSeen, runtime: p.runtime }, p.run, this.abort.signal));
    this.report();
    this.keepReporting();
    return env;
  }

  /**
   * Container runtimes: the service port to publish on the agent's bind address (after prepare).
   * Batch tasks and the process runtime publish nothing (a process already listens on the host).
   */
  published(runtime: 'process' | 'docker' | 'podman'): { host: string; port: number }[] {
    const port = this.port();
    return runtime !== 'process' && this.a.slot_kind === 'service' && port !== undefined ? [{ host: this.d.bind, port }] : [];
  }

  /** The running sidecars (pid, start time, port) for the task record: a restarted agent adopts them. */
  sidecarRecords(): SidecarRecord[] {
    return this.sidecars.records();
  }

  /**
   * After an agent restart, for a task that still runs: re-adopts its sidecars from the record
   * (`saved`, as read from disk), restarts dead ones on their port, and resumes checks and reports.
   * Returns the records to persist again. Never throws: tracking must not fail the task.
   */
  async resume(saved: unknown, p: { workspace: string; run: string; runtime: 'process' | 'docker' | 'podman' }): Promise<SidecarRecord[]> {
    const workspaceSeen = p.runtime === 'process' ? p.workspace : '/workspace';
    try {
      const { ready } = await this.sidecars.resume(saved, this.a.plugin_configs, { task_id: this.a.task_id, workspace: p.workspace, task_workspace: workspaceSeen, runtime: p.runtime }, p.run, this.abort.signal);
      void ready.then(() => !this.abort.signal.aborted && this.report());
    } catch (err) {
      this.d.logger.warn({ err, task: this.a.task_id }, 'could not resume sidecars');
    }
    this.report();
    this.keepReporting();
    return this.sidecars.records();
  }

  /** Reports are not buffered across reconnects, so they are repeated (control ignores repeats). */
  private keepReporting(): void {
    if (this.timer || this.abort.signal.aborted) return;
    if (this.a.slot_kind !== 'service' && Object.keys(this.sidecars.statuses).length === 0) return;
    this.timer = setInterval(() => void this.sidecars.check().then(() => this.report()), this.d.checkIntervalMs);
    this.timer.unref();
  }

  /** The entrypoint runs: probe a service until it answers, then report its port (or fail it via `stop`). */
  started(stop: (why: string) => Promise<void>): void {
    const port = this.port();
    if (this.a.slot_kind !== 'service' || port === undefined) return;
    this.keepReporting();
    void waitUntilUp(`http://${probeHost(this.d.bind)}:${port}${this.d.readyPath}`, { timeoutMs: this.d.serviceReadyTimeoutMs, intervalMs: 250, signal: this.abort.signal }, this.d).then(async (r) => {
      if (this.abort.signal.aborted) return;
      this.service = r.ok ? { port, state: 'ready' } : { port, state: 'error', error: r.reason };
      this.d.logger.info({ task: this.a.task_id, port, ready: r.ok }, r.ok ? 'service is up' : 'service never came up');
      this.report();
      if (!r.ok) await stop(`service did not answer: ${r.reason}`);
    });
  }

  /** The task is over: stop the sidecars and say so. */
  async end(): Promise<void> {
    // An explicit reason: the default builds a DOMException with a stack (~0.2 ms a task).
    this.abort.abort(TASK_ENDED);
    if (this.timer) clearInterval(this.timer);
    await this.sidecars.stop().catch((err: unknown) => this.d.logger.warn({ err, task: this.a.task_id }, 'sidecar stop failed'));
    // Also before a port was chosen (cancelled while preparing): control waits for this to say stopped.
    if (this.a.slot_kind === 'service') this.service = { port: this.port() ?? 0, state: 'stopped' };
    this.report();
  }
}

/**
 * One task's life on the agent: preparing (snapshot, datasets) → running (runtime.start) →
 * collecting (flush logs) → completed | failed | cancelled. Every state change is persisted with
 * its status frame before it is sent, so a restarted agent resends what control has not confirmed
 * and re-attaches to the entrypoint through the saved runtime handle.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { TaskFailure } from '../../shared/errors.js';
import type { FailureKind } from '../../shared/api-types.js';
import type { Logger } from '../../shared/logger.js';
import { pluginEnvironment } from '../../shared/plugins.js';
import type { AgentTaskState, TaskAssignment, TaskReportMessage } from '../../shared/protocol.js';
import { iso, type Clock } from '../../shared/time.js';
import type { Mount, Runtime, RuntimeHandle } from '../runtime/types.js';
import type { LogShipper } from './log-shipper.js';
import { extrasDeps, TaskExtras, type ExtrasDeps } from './service-extras.js';
import type { AgentState, TaskRecord } from './state.js';

export interface PrepareInput {
  assignment: TaskAssignment;
  workspace: string;
  signal: AbortSignal;
}
export interface Prepared {
  mounts: Mount[];
  env: Record<string, string>;
}
/** Fetches and verifies the snapshot and datasets; throws TaskFailure('infrastructure') on bad input. */
export type Preparer = ((input: PrepareInput) => Promise<Prepared>) & {
  /** A task resumed after an agent restart uses its cached datasets again (pins live in memory). */
  pin?: (a: TaskAssignment) => void;
  /** The task is over: its cached datasets may be evicted. */
  release?: (a: TaskAssignment) => void;
};

export interface RunnerDeps {
  runtime: Runtime;
  prepare: Preparer;
  argv: (entrypoint: string, args?: string) => string[];
  state: AgentState;
  logger: Logger;
  clock: Clock;
  stopGraceMs: number;
  /** Persists the record and sends its newest status frame (if connected). */
  report: (rec: TaskRecord) => Promise<void>;
  shipper: (rec: TaskRecord) => LogShipper;
  /** Called once the task is final: release the grant. */
  finished: (rec: TaskRecord) => void;
  /** Sends a task_report frame (service port, sidecar health); without it reports are dropped. */
  send?: (m: TaskReportMessage) => boolean;
  /** Service/sidecar settings; defaults from the environment (service-extras.ts). */
  extras?: ExtrasDeps;
}

/** Fails as infrastructure (so control requeues the gang with another port) when the port is taken. */
async function assertPortFree(port: number): Promise<void> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TaskFailure('infrastructure', `MASTER_PORT ${port} is not a port`);
  await new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', () => reject(new TaskFailure('infrastructure', `MASTER_PORT ${port} is already in use on this node`)));
    srv.listen(port, () => srv.close(() => resolve()));
  });
}

export class TaskRunner {
  private readonly abort = new AbortController();
  private readonly shipper: LogShipper;
  private pumpTimer: NodeJS.Timeout | undefined;
  private readonly extras: TaskExtras;

  constructor(readonly rec: TaskRecord, private readonly d: RunnerDeps) {
    this.shipper = d.shipper(rec);
    this.extras = new TaskExtras(rec.assignment, d.extras ?? extrasDeps(d.send ?? (() => false), d.logger, { clock: d.clock }));
  }

  get logs(): LogShipper {
    return this.shipper;
  }

  private async to(state: AgentTaskState, extra: { exit_code?: number; error?: string; failure_kind?: FailureKind; refused?: boolean } = {}): Promise<void> {
    const a = this.rec.assignment;
    this.rec.state = state;
    Object.assign(this.rec, extra);
    this.rec.outbox.push({
      type: 'task_status',
      task_id: a.task_id,
      epoch: a.epoch,
      state,
      at: iso(this.d.clock.now()),
      ...extra,
      ...(this.rec.handle?.started_at && state !== 'preparing' ? { started_at: this.rec.handle.started_at } : {}),
      ...(this.rec.allocation?.gpus.uuids.length ? { gpu_uuids: this.rec.allocation.gpus.uuids } : {}),
    });
    await this.d.report(this.rec);
  }

  /** A fresh assignment. */
  async start(): Promise<void> {
    const a = this.rec.assignment;
    const p = this.d.state.paths(a.task_id);
    let handle: RuntimeHandle;
    try {
      await this.to('preparing');
      // In-thread: two metadata calls, far cheaper than two trips through the libuv pool.
      mkdirSync(p.workspace, { recursive: true });
      mkdirSync(p.run, { recursive: true });
      const prepared = await this.d.prepare({ assignment: a, workspace: p.workspace, signal: this.abort.signal });
      if (this.rec.cancel_requested) return await this.finish('cancelled', { error: 'cancelled before it started' });
      // Rank 0 of a gang hosts the rendezvous: its MASTER_PORT must be free here (edit by D).
      if (a.node_count > 1 && a.node_rank === 0 && a.env.MASTER_PORT) await assertPortFree(Number(a.env.MASTER_PORT));
      const extraEnv = await this.extras.prepare({ workspace: p.workspace, run: p.run, runtime: this.d.runtime.kind });
      const sidecars = this.extras.sidecarRecords();
      if (sidecars.length) {
        // Saved before the entrypoint starts: a restarted agent finds (and stops) them by this.
        this.rec.sidecars = sidecars;
        await this.d.state.save(this.rec);
      }
      const argv = this.d.argv(a.entrypoint, a.args);
      const gpus = this.rec.allocation?.gpus ?? { indices: [], uuids: [] };
      const env: Record<string, string> = {
        ...pluginEnvironment(a.plugin_configs, { workspace: p.workspace, jobName: a.job_name, taskId: a.task_id }),
        ...extraEnv,
        ...prepared.env,
        ...a.env,
        FETCHML_TASK_ID: a.task_id,
        FETCHML_JOB_NAME: a.job_name,
        FETCHML_WORKSPACE: this.d.runtime.kind === 'process' ? p.workspace : '/workspace',
        FETCHML_NODE_RANK: String(a.node_rank),
        FETCHML_NODE_COUNT: String(a.node_count),
      };
      // Exclusive GPUs: indices for processes, UUIDs for containers; none granted → none visible.
      if (this.d.runtime.kind === 'process') env.CUDA_VISIBLE_DEVICES = gpus.indices.join(',');
      else env.NVIDIA_VISIBLE_DEVICES = gpus.uuids.length ? gpus.uuids.join(',') : 'void';
      handle = await this.d.runtime.start({
        task_id: a.task_id,
        epoch: a.epoch,
        argv,
        workspace: p.workspace,
        env,
        ...(a.image ? { image: a.image } : {}),
        gpus,
        ...(a.cpu !== undefined ? { cpu: a.cpu } : {}),
        ...(a.memory_gb !== undefined ? { memory_gb: a.memory_gb } : {}),
        mounts: prepared.mounts,
        log_file: p.log,
        run_dir: p.run,
        // Containers: a service's port is published; a gang shares the host network (NCCL/Gloo ranks
        // listen on ports chosen at run time and advertise their own address, docs/jupyter-and-plugins.md).
        publish: this.extras.published(this.d.runtime.kind),
        ...(a.node_count > 1 && this.d.runtime.kind !== 'process' ? { network: 'host' as const } : {}),
      });
    } catch (err) {
      const kind = err instanceof TaskFailure ? err.kind : 'infrastructure';
      const msg = err instanceof Error ? err.message : String(err);
      this.d.logger.warn({ task: a.task_id, err: msg, kind }, 'task could not start');
      return this.finish('failed', { error: msg, failure_kind: kind });
    }
    this.rec.handle = handle;
    await this.to('running');
    if (this.rec.cancel_requested) void this.d.runtime.stop(handle, this.d.stopGraceMs).catch(() => undefined);
    this.extras.started((why) => this.stopUnready(handle, why));
    await this.watch(handle);
  }

  /** After an agent restart: pick the task up where it was. */
  async resume(): Promise<void> {
    const a = this.rec.assignment;
    const h = this.rec.handle;
    if (this.rec.state === 'completed' || this.rec.state === 'failed' || this.rec.state === 'cancelled') {
      await this.shipper.pump(true);
      return this.d.finished(this.rec);
    }
    this.d.prepare.pin?.(a);
    // Sidecars are adopted first, so that every way out below (finish) stops them too.
    const p = this.d.state.paths(a.task_id);
    const sidecars = await this.extras.resume(this.rec.sidecars, { workspace: p.workspace, run: p.run, runtime: this.d.runtime.kind });
    if (JSON.stringify(sidecars) !== JSON.stringify(this.rec.sidecars ?? [])) {
      this.rec.sidecars = sidecars;
      await this.d.state.save(this.rec);
    }
    if (!h) return this.finish('failed', { error: 'the agent restarted while the task was being prepared', failure_kind: 'infrastructure' });
    const where = await this.d.runtime.reattach(h).catch(() => 'lost' as const);
    this.d.logger.info({ task: a.task_id, where }, 're-attached to task');
    if (where === 'lost') return this.finish('failed', { error: 'the task disappeared while the agent was down', failure_kind: 'infrastructure' });
    if (this.rec.state === 'preparing') await this.to('running');
    this.extras.started((why) => this.stopUnready(h, why));
    await this.watch(h);
  }

  private async watch(h: RuntimeHandle): Promise<void> {
    this.pumpTimer = setInterval(() => void this.shipper.pump(), 250);
    this.pumpTimer.unref();
    let code: number;
    let signal: string | undefined;
    try {
      const r = await this.d.runtime.wait(h);
      code = r.exit_code;
      signal = r.signal;
    } catch (err) {
      clearInterval(this.pumpTimer);
      return this.finish('failed', { error: `lost track of the entrypoint: ${err instanceof Error ? err.message : String(err)}`, failure_kind: 'infrastructure' });
    }
    clearInterval(this.pumpTimer);
    if (this.rec.state === 'running') await this.to('collecting');
    if (this.rec.cancel_requested) return this.finish('cancelled', { exit_code: code, error: 'cancelled' });
    if (code === 0) return this.finish('completed', { exit_code: 0 });
    return this.finish('failed', { exit_code: code, error: `entrypoint exited with code ${code}${signal ? ` (${signal})` : ''}`, failure_kind: 'entrypoint' });
  }

  /** A service that never answered its readiness probe is stopped (and so fails). */
  private async stopUnready(h: RuntimeHandle, why: string): Promise<void> {
    this.d.logger.warn({ task: this.rec.assignment.task_id, why }, 'stopping a service that never came up');
    await this.d.runtime.stop(h, this.d.stopGraceMs).catch(() => undefined);
  }

  private async finish(state: 'completed' | 'failed' | 'cancelled', extra: { exit_code?: number; error?: string; failure_kind?: FailureKind; refused?: boolean }): Promise<void> {
    this.d.prepare.release?.(this.rec.assignment);
    await this.extras.end();
    await this.shipper.pump(true);
    await this.to(state, extra);
    if (this.rec.handle) await this.d.runtime.cleanup(this.rec.handle).catch((err: unknown) => this.d.logger.warn({ err }, 'runtime cleanup failed'));
    this.d.finished(this.rec);
  }

  /** The assignment does not fit this agent: fail it as infrastructure so control places it again. */
  async reject(reason: string): Promise<void> {
    await this.finish('failed', { error: reason, failure_kind: 'infrastructure', refused: true });
  }

  /** Cancel: stop within the grace period (or before start, if still preparing). */
  async cancel(): Promise<void> {
    if (this.rec.cancel_requested) return;
    this.rec.cancel_requested = true;
    await this.d.state.save(this.rec);
    this.abort.abort();
    if (this.rec.handle && (this.rec.state === 'running' || this.rec.state === 'preparing')) {
      await this.d.runtime.stop(this.rec.handle, this.d.stopGraceMs).catch((err: unknown) => this.d.logger.warn({ err }, 'stop failed'));
    }
  }

  dispose(): void {
    if (this.pumpTimer) clearInterval(this.pumpTimer);
  }
}

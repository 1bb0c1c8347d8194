/**
 * The agent daemon: holds the task records, the slot keeper and the runners, and talks to control
 * through AgentConnection. Control may come and go; tasks keep running, their status frames wait
 * in each record's outbox until control acknowledges them.
 */
import os from 'node:os';
import type { GpuInfo } from '../../shared/api-types.js';
import type { Logger } from '../../shared/logger.js';
import { PROTOCOL_VERSION, type AgentCapabilities, type ControlMessage, type HelloMessage, type RunningTaskReport, type TaskAssignment, type TaskReportMessage, type TaskStatusMessage } from '../../shared/protocol.js';
import type { Clock } from '../../shared/time.js';
import type { Runtime } from '../runtime/types.js';
import { AgentConnection } from './connection.js';
import { LogShipper } from './log-shipper.js';
import { extrasDeps, type ExtrasDeps } from './service-extras.js';
import { SlotKeeper } from './slots.js';
import { AgentState, isSafeTaskId, type TaskRecord } from './state.js';
import { TaskRunner, type Preparer } from './task-runner.js';

export const AGENT_VERSION = '0.1.0';
/** A task still preparing, running or collecting after this long is reported as such (reportLater). */
export const TRANSIENT_REPORT_DELAY_MS = 100;
const AGENT_FINAL: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

export interface GpuReading {
  status: AgentCapabilities['probe_status'];
  gpus: GpuInfo[];
  message?: string;
}

export interface AgentDaemonDeps {
  control: string;
  token: string;
  name: string;
  address?: string;
  state: AgentState;
  runtime: Runtime;
  prepare: Preparer;
  argv: (entrypoint: string, args?: string) => string[];
  host: { cpu_cores: number; memory_gb: number; hostname: string; os?: string };
  /** The data dir's filesystem at start-up, and how to read its free space again (GB). */
  disk?: { mount: string; total_gb: number; free_gb: number };
  diskFreeGb?: () => Promise<number | undefined>;
  gpus: GpuReading;
  probeGpus: () => Promise<GpuReading>;
  slots: { batch_total: number; service_total: number };
  logger: Logger;
  clock: Clock;
  stopGraceMs?: number;
}

export class AgentDaemon {
  workerId = '';
  private readonly records = new Map<string, TaskRecord>();
  private readonly runners = new Map<string, TaskRunner>();
  private readonly keeper: SlotKeeper;
  private conn: AgentConnection | undefined;
  private hbTimer: NodeJS.Timeout | undefined;
  private hbSeq = 0;
  private gpus: GpuReading;
  private lastProbe = 0;
  private probing = false;
  /** Free GB on the data dir's filesystem, refreshed with the GPU reading. */
  private diskFree: number | undefined;
  private draining = false;
  /** Status frames that went out at least once (an unsent passing state may be dropped). */
  private readonly sentFrames = new WeakSet<TaskStatusMessage>();

  constructor(private readonly d: AgentDaemonDeps) {
    this.gpus = d.gpus;
    this.keeper = new SlotKeeper({ ...d.slots, cpu_cores: d.host.cpu_cores, memory_gb: d.host.memory_gb, gpus: d.gpus.gpus });
  }

  async start(): Promise<void> {
    this.workerId = await this.d.state.workerId();
    this.lastProbe = this.d.clock.now();
    const recs = await this.d.state.loadAll((dir, err) => this.d.logger.warn({ dir, err }, 'skipping an unreadable task record'));
    for (const rec of recs) {
      this.records.set(rec.assignment.task_id, rec);
      if (rec.allocation && !['completed', 'failed', 'cancelled'].includes(rec.state)) this.keeper.restore(rec.allocation);
    }
    this.conn = new AgentConnection({
      control: this.d.control,
      token: this.d.token,
      logger: this.d.logger,
      hello: () => this.hello(),
      onWelcome: (w) => {
        this.draining = w.draining;
        this.startHeartbeats(w.heartbeat_interval_ms);
        this.resendAll();
      },
      onMessage: (m) => this.onMessage(m),
      onDown: () => this.stopHeartbeats(),
    });
    for (const rec of recs) {
      const r = this.runner(rec);
      void r.resume().catch((err: unknown) => this.d.logger.error({ err, task: rec.assignment.task_id }, 'resume failed'));
    }
    this.conn.start();
  }

  async close(): Promise<void> {
    this.stopHeartbeats();
    for (const r of this.runners.values()) r.dispose();
    await this.conn?.close();
  }

  /** For tests and the dev command: what this agent holds. */
  tasks(): TaskRecord[] {
    return [...this.records.values()];
  }

  private runningReports(): RunningTaskReport[] {
    return [...this.records.values()].map((r) => ({ task_id: r.assignment.task_id, epoch: r.assignment.epoch, state: r.state, gpu_uuids: r.allocation?.gpus.uuids ?? [] }));
  }

  private hello(): HelloMessage {
    return {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      worker_id: this.workerId,
      name: this.d.name,
      address: this.d.address ?? os.hostname(),
      capabilities: {
        gpus: this.gpus.gpus,
        cpu_cores: this.d.host.cpu_cores,
        memory_gb: this.d.host.memory_gb,
        hostname: this.d.host.hostname,
        ...(this.d.host.os ? { os: this.d.host.os } : {}),
        ...(this.d.disk ? { disk: { ...this.d.disk, ...(this.diskFree !== undefined ? { free_gb: this.diskFree } : {}) } } : {}),
        runtime: this.d.runtime.kind,
        probe_status: this.gpus.status,
        ...(this.gpus.message ? { probe_message: this.gpus.message } : {}),
      },
      slots: this.d.slots,
      running: this.runningReports(),
      agent_version: AGENT_VERSION,
    };
  }

  private startHeartbeats(intervalMs: number): void {
    this.stopHeartbeats();
    const ms = Math.max(50, Math.min(60_000, Number.isFinite(intervalMs) ? intervalMs : 5000));
    this.hbTimer = setInterval(() => this.heartbeat(), ms);
    this.hbTimer.unref();
  }

  private stopHeartbeats(): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = undefined;
  }

  private heartbeat(): void {
    const u = this.keeper.usage();
    this.conn?.send({
      type: 'heartbeat',
      seq: ++this.hbSeq,
      slots_used: { batch: u.batch, service: u.service },
      gpus: this.gpus.gpus,
      probe_status: this.gpus.status,
      running: this.runningReports(),
      ...(this.diskFree !== undefined ? { disk_free_gb: this.diskFree } : {}),
    });
    // GPU metrics refresh in the background, at most every 10 s: nvidia-smi can be slow.
    if (!this.probing && this.d.clock.now() - this.lastProbe > 10_000) {
      this.probing = true;
      this.d
        .probeGpus()
        .then(async (g) => {
          this.gpus = g;
          this.keeper.updateGpus(g.gpus);
          this.diskFree = (await this.d.diskFreeGb?.()) ?? this.diskFree;
        })
        .catch(() => undefined)
        .finally(() => {
          this.probing = false;
          this.lastProbe = this.d.clock.now();
        });
    }
  }

  /** After (re)connecting: logs from the acknowledged offset, then every unconfirmed status, in order. */
  private resendAll(): void {
    for (const rec of this.records.values()) {
      const r = this.runners.get(rec.assignment.task_id);
      r?.logs.rewind(rec.log_acked);
      const frames = [...rec.outbox];
      void (r ? r.logs.pump() : Promise.resolve()).then(() => {
        for (const f of frames) if (!this.sendFrame(f)) return;
      });
    }
  }

  /**
   * A passing state (preparing, running, collecting) goes out after TRANSIENT_REPORT_DELAY_MS if
   * it is still the newest: control set preparing itself when it assigned the task, and most short
   * tasks are final by then. Its time is kept: `at` of the frame, `started_at` of later ones.
   */
  private reportLater(rec: TaskRecord, f: TaskStatusMessage): void {
    setTimeout(() => {
      if (rec.outbox[rec.outbox.length - 1] === f && !this.sentFrames.has(f)) this.sendFrame(f);
    }, TRANSIENT_REPORT_DELAY_MS).unref();
  }

  private sendFrame(f: TaskStatusMessage): boolean {
    const ok = this.conn?.send(f) ?? false;
    if (ok) this.sentFrames.add(f);
    return ok;
  }

  private extras: ExtrasDeps | undefined;
  /** A task_report (service ready, sidecar health) never runs ahead of the task's own state: a held status goes first. */
  private readonly sendReport = (m: TaskReportMessage): boolean => {
    const rec = this.records.get(m.task_id);
    const held = rec?.outbox[rec.outbox.length - 1];
    if (held && rec.assignment.epoch === m.epoch && !this.sentFrames.has(held)) this.sendFrame(held);
    return this.conn?.send(m) ?? false;
  };

  private runner(rec: TaskRecord): TaskRunner {
    const r = new TaskRunner(rec, {
      runtime: this.d.runtime,
      prepare: this.d.prepare,
      argv: this.d.argv,
      state: this.d.state,
      logger: this.d.logger,
      clock: this.d.clock,
      stopGraceMs: this.d.stopGraceMs ?? 10_000,
      report: async (x) => {
        const last = x.outbox[x.outbox.length - 1];
        if (AGENT_FINAL.has(x.state)) {
          // Reports of passing states that have not gone out yet are superseded by the final one
          // (it carries started_at): a short task costs control one commit, not three.
          for (let i = x.outbox.length - 2; i >= 0; i--) if (!this.sentFrames.has(x.outbox[i]!)) x.outbox.splice(i, 1);
          await this.d.state.save(x);
          // The entrypoint has ended: its slot and GPUs are free before control hears of it, so an
          // assignment control sends for them is never refused while cleanup (docker rm) still runs.
          if (this.records.get(x.assignment.task_id) === x) this.keeper.release(x.assignment.task_id);
          if (last) this.sendFrame(last);
          return;
        }
        // collecting is transient: after a crash the record's 'running' and the runtime's exit file
        // lead to the same collecting and final frames again, so no write.
        if (x.state !== 'collecting') await this.d.state.save(x);
        if (last) this.reportLater(x, last);
      },
      shipper: (x) => new LogShipper(x.assignment.task_id, x.assignment.epoch, this.d.state.paths(x.assignment.task_id).log, x.log_acked, (m) => this.conn?.send(m) ?? false),
      send: this.sendReport,
      // Built once: reading the whole environment per task cost ~0.3 ms.
      extras: (this.extras ??= extrasDeps(this.sendReport, this.d.logger, { clock: this.d.clock })),
      finished: (x) => {
        this.keeper.release(x.assignment.task_id);
        this.forgetIfDone(x);
      },
    });
    this.runners.set(rec.assignment.task_id, r);
    return r;
  }

  private forgetIfDone(rec: TaskRecord): void {
    const id = rec.assignment.task_id;
    if (rec.outbox.length > 0 || !['completed', 'failed', 'cancelled'].includes(rec.state)) return;
    if (this.records.get(id) !== rec) return;
    this.records.delete(id);
    this.runners.get(id)?.dispose();
    this.runners.delete(id);
    void this.d.state.remove(id).catch((err: unknown) => this.d.logger.warn({ err, task: id }, 'could not remove task files'));
  }

  private onMessage(m: ControlMessage): void {
    switch (m.type) {
      case 'assign':
        this.assign(m.task);
        break;
      case 'cancel': {
        const rec = this.records.get(m.task_id);
        if (rec && rec.assignment.epoch <= m.epoch) {
          this.d.logger.info({ task: m.task_id, reason: m.reason }, 'cancelling task');
          void this.runners.get(m.task_id)?.cancel();
        }
        break;
      }
      case 'drain':
        this.draining = m.draining;
        this.d.logger.info({ draining: m.draining }, m.draining ? 'draining: no new work' : 'undrained');
        break;
      case 'task_ack': {
        const rec = this.records.get(m.task_id);
        if (!rec || rec.assignment.epoch !== m.epoch) break;
        if (m.log_offset !== undefined && m.log_offset > rec.log_acked) rec.log_acked = m.log_offset;
        if (m.state !== undefined) {
          const i = rec.outbox.findIndex((f) => f.state === m.state);
          if (i >= 0) {
            rec.outbox.splice(0, i + 1);
            // No write for an ack alone: the next state change writes the shorter outbox, and a
            // frame resent after a crash is one control already has (it answers it as a duplicate).
            if (rec.outbox.length === 0 && ['completed', 'failed', 'cancelled'].includes(rec.state) && !this.keeper.get(m.task_id)) this.forgetIfDone(rec);
          }
        }
        break;
      }
      default:
        break;
    }
  }

  private assign(a: TaskAssignment): void {
    if (!a || !isSafeTaskId(a.task_id) || typeof a.epoch !== 'number') {
      this.d.logger.warn({ task: a?.task_id }, 'ignoring a malformed assignment');
      return;
    }
    const have = this.records.get(a.task_id);
    if (have && have.assignment.epoch >= a.epoch) return; // a duplicate or a stale assignment
    if (have) void this.runners.get(a.task_id)?.cancel();
    const rec: TaskRecord = { assignment: { ...a, env: a.env ?? {} }, state: 'preparing', outbox: [], log_acked: 0 };
    const grant = this.keeper.allocate({ task_id: a.task_id, slot_kind: a.slot_kind, gpu: a.gpu, ...(a.gpu_type ? { gpu_type: a.gpu_type } : {}), ...(a.cpu !== undefined ? { cpu: a.cpu } : {}), ...(a.memory_gb !== undefined ? { memory_gb: a.memory_gb } : {}) });
    this.records.set(a.task_id, rec);
    const r = this.runner(rec);
    if (!grant.ok) {
      this.d.logger.warn({ task: a.task_id, reason: grant.reason }, 'refusing an assignment that does not fit');
      void r.reject(`agent refused the assignment: ${grant.reason}`);
      return;
    }
    rec.allocation = grant.allocation;
    void r.start().catch((err: unknown) => this.d.logger.error({ err, task: a.task_id }, 'task runner failed'));
  }
}

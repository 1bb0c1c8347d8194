/**
 * Worker registry: what control remembers of each worker (StoredWorker in the store, so drain
 * state survives restarts), which are connected now, and an index of the tasks placed on each,
 * kept current from the 'task' events so dispatch never scans the whole task history.
 */
import type WebSocket from 'ws';
import type { AuditEventDraft, GpuInfo, Task, Worker, WorkerStatus } from '../../shared/api-types.js';
import type { HeartbeatMessage, HelloMessage } from '../../shared/protocol.js';
import { iso } from '../../shared/time.js';
import type { ControlContext } from '../context.js';
import { commitAndAnnounce } from '../services/actor.js';
import type { StoredWorker } from '../store/types.js';
import { nodeWorkers } from './reconcile.js';
import { allocationsFromTasks, toSchedWorker } from '../scheduler/adapt.js';
import type { SchedWorker } from '../scheduler/types.js';
import { StoppingHolds } from './stopping-holds.js';

const ON_WORKER = new Set(['preparing', 'running', 'collecting']);

export interface LiveWorker {
  id: string;
  socket: WebSocket;
  lastSeen: number;
  hello: HelloMessage;
  heartbeat?: HeartbeatMessage;
  /** What the agent was last told (undefined until welcome). */
  draining?: boolean;
}

/**
 * The Worker schema's counts are integers: a fractional memory size (23.5 GiB) is rounded down,
 * never up (the planner must not promise memory that is not there); garbage counts as 0.
 */
const whole = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);

/** The data dir's filesystem as the Worker schema shows it; nothing for garbage. */
function diskOf(d: unknown): { disk_total_gb?: number; disk_free_gb?: number } {
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
  const total = n((d as { total_gb?: unknown } | undefined)?.total_gb);
  const free = n((d as { free_gb?: unknown } | undefined)?.free_gb);
  return { ...(total !== undefined ? { disk_total_gb: total } : {}), ...(free !== undefined ? { disk_free_gb: free } : {}) };
}

/** Same GPUs, same names and health (a heartbeat's fresh array with nothing the planner reads changed). */
function sameHealth(a: unknown, b: GpuInfo[] | undefined): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !b || a.length !== b.length) return false;
  return b.every((g, i) => {
    const o = (a as GpuInfo[])[i];
    return o !== undefined && o.index === g.index && o.name === g.name && o.healthy === g.healthy;
  });
}

export class WorkerRegistry {
  readonly live = new Map<string, LiveWorker>();
  /** task id → task, for tasks placed on a worker and not finished. */
  private readonly placed = new Map<string, Task>();
  /** worker id → ids of the placed tasks with a node there (every node of a gang). */
  private readonly byWorker = new Map<string, Set<string>>();
  /** Bumped when a worker's placed tasks change: planWorkers reuses what did not change. */
  private readonly placedVersion = new Map<string, number>();
  private readonly planCache = new Map<string, { version: number; stored: StoredWorker; gpus: unknown; sched: SchedWorker }>();
  readonly queued = new Map<string, Task>();
  /** Last frame time of workers seen since control started, kept after a disconnect (for the timeout). */
  private readonly seen = new Map<string, number>();
  private readonly startedAt: number;
  /** Copies control ended that agents are still stopping: their resources stay taken (stopping-holds.ts). */
  private readonly holds = new StoppingHolds();
  /** Workers whose agent refused an assignment: not planned on until their next heartbeat. */
  private readonly heldOut = new Set<string>();

  constructor(private readonly ctx: ControlContext) {
    this.startedAt = ctx.clock.now();
    for (const t of ctx.store.values('tasks')) this.track(t);
  }

  /**
   * Keeps the indexes current; called for every 'task' event. Events come once a commit is
   * durable, the store's memory may be further on (a start or a status in flight): the indexes
   * follow memory, so a late event never undoes a start the scheduler counted already.
   */
  track(event: Task): void {
    const t = this.ctx.store.get('tasks', event.id) ?? event;
    const old = this.placed.get(t.id);
    if (old) {
      for (const w of nodeWorkers(old)) {
        this.byWorker.get(w)?.delete(t.id);
        this.placedVersion.set(w, (this.placedVersion.get(w) ?? 0) + 1);
      }
    }
    this.placed.delete(t.id);
    // Map.set keeps an updated queued task in its place (creation order); a requeue goes last.
    if (t.status === 'queued') this.queued.set(t.id, t);
    else {
      this.queued.delete(t.id);
      if (t.worker_id && ON_WORKER.has(t.status)) {
        this.placed.set(t.id, t);
        for (const w of nodeWorkers(t)) {
          let s = this.byWorker.get(w);
          if (!s) this.byWorker.set(w, (s = new Set()));
          s.add(t.id);
          this.placedVersion.set(w, (this.placedVersion.get(w) ?? 0) + 1);
        }
      }
    }
  }

  /** Control sent `cancel` for this copy on `workerId`: keep its resources until the agent says it stopped. */
  holdStopping(workerId: string, task: Task, epoch: number): void {
    const placed = this.placed.get(task.id);
    if (placed && placed.epoch === epoch && nodeWorkers(placed).includes(workerId)) return; // still counted as placed
    if (this.holds.hold(workerId, task, epoch)) this.bump(workerId);
  }

  /** The agent refused an assignment: control's view of it is off until its next heartbeat. */
  holdOutUntilHeartbeat(workerId: string): void {
    this.heldOut.add(workerId);
  }

  /** The agent reported a final state for this copy; true when that freed a hold (plan again). */
  releaseStopping(workerId: string, taskId: string, epoch: number): boolean {
    if (!this.holds.release(workerId, taskId, epoch)) return false;
    this.bump(workerId);
    return true;
  }

  private bump(workerId: string): void {
    this.placedVersion.set(workerId, (this.placedVersion.get(workerId) ?? 0) + 1);
  }

  /** Tasks with a node on this worker (gangs included), not finished. */
  tasksOn(workerId: string): Task[] {
    const ids = this.byWorker.get(workerId);
    if (!ids) return [];
    const out: Task[] = [];
    for (const id of ids) {
      const t = this.placed.get(id);
      if (t) out.push(t);
    }
    return out;
  }

  placedTask(id: string): Task | undefined {
    return this.placed.get(id);
  }

  stored(id: string): StoredWorker | undefined {
    return this.ctx.store.get('workers', id);
  }

  lastSeen(id: string): number {
    return this.live.get(id)?.lastSeen ?? this.seen.get(id) ?? this.startedAt;
  }

  /** Records a hello: capabilities, slots, connected_at; keeps a drain set by an operator. */
  async connect(hello: HelloMessage, socket: WebSocket, address: string | undefined): Promise<StoredWorker> {
    const now = this.ctx.clock.now();
    const prev = this.stored(hello.worker_id);
    const draining = prev?.status === 'draining' || (prev?.status === 'offline' && prev.draining_reason !== undefined);
    const gpus = hello.capabilities.gpus ?? [];
    const status: WorkerStatus = draining ? 'draining' : 'active';
    const w: StoredWorker = {
      ...(prev ?? {}),
      id: hello.worker_id,
      name: hello.name,
      connected_at: iso(now),
      last_heartbeat: iso(now),
      capabilities: {
        gpu_count: gpus.length,
        ...(gpus[0]?.name ? { gpu_type: gpus[0].name } : {}),
        cpu_cores: whole(hello.capabilities.cpu_cores),
        memory_gb: whole(hello.capabilities.memory_gb),
        gpus,
        ...diskOf(hello.capabilities.disk),
      },
      slots: { batch_total: whole(hello.slots.batch_total), service_total: whole(hello.slots.service_total), batch_available: whole(hello.slots.batch_total), service_available: whole(hello.slots.service_total) },
      active_tasks: [],
      status,
      address: hello.address || address || '',
    };
    if (!draining) delete w.status_reason;
    const old = this.live.get(w.id);
    this.live.set(w.id, { id: w.id, socket, lastSeen: now, hello });
    this.heldOut.delete(w.id); // a hello says afresh what it has
    if (this.holds.reconcile(w.id, hello.running)) this.bump(w.id);
    if (old && old.socket !== socket) old.socket.terminate(); // a half-open earlier connection of the same agent
    await this.save(w, [{ event_type: 'worker_connected', resource: `worker:${w.id}`, action: 'connect', success: true, ...(address ? { ip_address: address } : {}), metadata: { name: w.name, gpus: gpus.length } }]);
    return w;
  }

  /** Records a heartbeat; true when it released holds of copies the agent no longer runs (plan again). */
  heartbeat(id: string, hb: HeartbeatMessage): boolean {
    const l = this.live.get(id);
    if (!l) return false;
    l.lastSeen = this.ctx.clock.now();
    l.heartbeat = hb;
    const back = this.heldOut.delete(id);
    if (!this.holds.reconcile(id, hb.running)) return back;
    this.bump(id);
    return true;
  }

  touch(id: string): void {
    const l = this.live.get(id);
    if (l) l.lastSeen = this.ctx.clock.now();
  }

  /** The socket closed; the worker stays active until it is overdue (it may just be reconnecting). */
  disconnect(id: string, socket: WebSocket): void {
    const l = this.live.get(id);
    if (l?.socket === socket) {
      this.seen.set(id, l.lastSeen); // overdue counts from the last frame, not from control's start
      this.live.delete(id);
      if (this.holds.dropWorker(id)) this.bump(id); // its hello says again what it still runs
    }
  }

  async markOffline(id: string, reason: string): Promise<void> {
    const prev = this.stored(id);
    const l = this.live.get(id);
    if (l) {
      this.live.delete(id);
      l.socket.terminate();
    }
    if (!prev || prev.status === 'offline') return;
    const w: StoredWorker = { ...prev, status: 'offline', status_reason: reason, last_heartbeat: iso(this.lastSeenOr(prev)) };
    if (prev.status === 'draining') w.draining_reason = prev.draining_reason ?? prev.status_reason ?? 'drained before going offline';
    await this.save(w, [{ event_type: 'worker_disconnected', resource: `worker:${id}`, action: 'offline', success: true, metadata: { reason } }]);
  }

  private lastSeenOr(w: StoredWorker): number {
    return this.live.get(w.id)?.lastSeen ?? (w.last_heartbeat ? Date.parse(w.last_heartbeat) : this.startedAt);
  }

  private async save(w: StoredWorker, audit: AuditEventDraft[]): Promise<void> {
    await commitAndAnnounce(this.ctx.store, this.ctx.events, [{ op: 'put', coll: 'workers', value: w }], audit);
    this.ctx.events.emit('worker', this.view(w));
  }

  /** The API's Worker: stored record plus live slot use, heartbeat time and active tasks. */
  view(w: StoredWorker): Worker {
    const mine = this.tasksOn(w.id);
    const held = this.holds.slots(w.id);
    const placedBatch = mine.filter((t) => t.slot_kind !== 'service').length;
    const batchUsed = placedBatch + held.batch;
    const serviceUsed = mine.length - placedBatch + held.service;
    const live = this.live.get(w.id);
    const gpus = live?.heartbeat?.gpus?.length ? live.heartbeat.gpus : w.capabilities.gpus;
    const { draining_reason: _ignored, ...pub } = w;
    // An unhealthy GPU is never planned (adapt.ts); say why on the worker unless it says more already.
    const sick = (gpus ?? []).filter((g) => !g.healthy);
    const gpuReason = sick.length ? sick.map((g) => `GPU ${g.index} unhealthy${g.unhealthy_reason ? `: ${g.unhealthy_reason}` : ''}`).join('; ') : undefined;
    return {
      ...pub,
      ...(gpuReason && w.status === 'active' && !w.status_reason ? { status_reason: gpuReason } : {}),
      ...(live ? { last_heartbeat: iso(live.lastSeen) } : {}),
      capabilities: { ...w.capabilities, ...(gpus ? { gpus } : {}), ...diskOf({ total_gb: w.capabilities.disk_total_gb, free_gb: live?.heartbeat?.disk_free_gb ?? w.capabilities.disk_free_gb }) },
      slots: {
        batch_total: w.slots.batch_total,
        service_total: w.slots.service_total,
        batch_available: Math.max(0, w.slots.batch_total - batchUsed),
        service_available: Math.max(0, w.slots.service_total - serviceUsed),
      },
      active_tasks: mine.map((t) => t.id),
    };
  }

  workers(): Worker[] {
    return [...this.ctx.store.values('workers')].map((w) => this.view(w));
  }

  /** Connected workers as the planner sees them (free capacity after every placed node). */
  planWorkers(): SchedWorker[] {
    const out: SchedWorker[] = [];
    for (const l of this.live.values()) {
      const w = this.stored(l.id);
      if (!w || this.heldOut.has(w.id)) continue;
      const gpus = l.heartbeat?.gpus?.length ? l.heartbeat.gpus : w.capabilities.gpus;
      const version = this.placedVersion.get(w.id) ?? 0;
      const hit = this.planCache.get(w.id);
      if (hit && hit.version === version && hit.stored === w && sameHealth(hit.gpus, gpus)) {
        out.push(hit.sched);
        continue;
      }
      // Only what toSchedWorker reads (the full API view costs more than the plan on 1,000 workers).
      const shape = {
        id: w.id,
        status: w.status,
        capabilities: { ...w.capabilities, ...(gpus ? { gpus } : {}) },
        slots: { batch_total: w.slots.batch_total, service_total: w.slots.service_total, batch_available: w.slots.batch_total, service_available: w.slots.service_total },
      } as Worker;
      const sched = toSchedWorker(shape, [...allocationsFromTasks(this.tasksOn(w.id)).filter((a) => a.worker_id === w.id), ...this.holds.allocations(w.id)]);
      this.planCache.set(w.id, { version, stored: w, gpus, sched });
      out.push(sched);
    }
    return out;
  }
}

/**
 * Worker registry: what control remembers of each worker (StoredWorker in the store, so drain
 * state survives restarts), which are connected now, and an index of the tasks placed on each,
 * kept current from the 'task' events so dispatch never scans the whole task history.
 */
import type WebSocket from 'ws';
import type { AuditEventDraft, Task, Worker, WorkerStatus } from '../../shared/api-types.js';
import type { HeartbeatMessage, HelloMessage } from '../../shared/protocol.js';
import { iso } from '../../shared/time.js';
import type { ControlContext } from '../context.js';
import { commitAndAnnounce } from '../services/actor.js';
import type { StoredWorker } from '../store/types.js';
import type { DispatchWorker } from './dispatch.js';

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

export class WorkerRegistry {
  readonly live = new Map<string, LiveWorker>();
  /** task id → task, for tasks placed on a worker and not finished. */
  private readonly placed = new Map<string, Task>();
  readonly queued = new Map<string, Task>();
  private readonly startedAt: number;

  constructor(private readonly ctx: ControlContext) {
    this.startedAt = ctx.clock.now();
    for (const t of ctx.store.values('tasks')) this.track(t);
  }

  /** Keeps the indexes current; called for every 'task' event. */
  track(t: Task): void {
    this.placed.delete(t.id);
    this.queued.delete(t.id);
    if (t.status === 'queued') this.queued.set(t.id, t);
    else if (t.worker_id && ON_WORKER.has(t.status)) this.placed.set(t.id, t);
  }

  tasksOn(workerId: string): Task[] {
    return [...this.placed.values()].filter((t) => t.worker_id === workerId);
  }

  stored(id: string): StoredWorker | undefined {
    return this.ctx.store.get('workers', id);
  }

  lastSeen(id: string): number {
    return this.live.get(id)?.lastSeen ?? this.startedAt;
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
        cpu_cores: hello.capabilities.cpu_cores,
        memory_gb: hello.capabilities.memory_gb,
        gpus,
      },
      slots: { batch_total: hello.slots.batch_total, service_total: hello.slots.service_total, batch_available: hello.slots.batch_total, service_available: hello.slots.service_total },
      active_tasks: [],
      status,
      address: hello.address || address || '',
    };
    if (!draining) delete w.status_reason;
    const old = this.live.get(w.id);
    this.live.set(w.id, { id: w.id, socket, lastSeen: now, hello });
    if (old && old.socket !== socket) old.socket.terminate(); // a half-open earlier connection of the same agent
    await this.save(w, [{ event_type: 'worker_connected', resource: `worker:${w.id}`, action: 'connect', success: true, ...(address ? { ip_address: address } : {}), metadata: { name: w.name, gpus: gpus.length } }]);
    return w;
  }

  heartbeat(id: string, hb: HeartbeatMessage): void {
    const l = this.live.get(id);
    if (!l) return;
    l.lastSeen = this.ctx.clock.now();
    l.heartbeat = hb;
  }

  touch(id: string): void {
    const l = this.live.get(id);
    if (l) l.lastSeen = this.ctx.clock.now();
  }

  /** The socket closed; the worker stays active until it is overdue (it may just be reconnecting). */
  disconnect(id: string, socket: WebSocket): void {
    if (this.live.get(id)?.socket === socket) this.live.delete(id);
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
    const batchUsed = mine.filter((t) => t.slot_kind !== 'service').length;
    const serviceUsed = mine.length - batchUsed;
    const live = this.live.get(w.id);
    const gpus = live?.heartbeat?.gpus?.length ? live.heartbeat.gpus : w.capabilities.gpus;
    const { draining_reason: _ignored, ...pub } = w;
    return {
      ...pub,
      ...(live ? { last_heartbeat: iso(live.lastSeen) } : {}),
      capabilities: { ...w.capabilities, ...(gpus ? { gpus } : {}) },
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

  /** Connected, active workers and their free capacity, as first-fit (or the scheduler) sees them. */
  dispatchView(): DispatchWorker[] {
    const out: DispatchWorker[] = [];
    for (const l of this.live.values()) {
      const w = this.stored(l.id);
      if (!w || w.status !== 'active') continue;
      const mine = this.tasksOn(w.id);
      const gpus = l.heartbeat?.gpus?.length ? l.heartbeat.gpus : w.capabilities.gpus ?? [];
      const batchUsed = mine.filter((t) => t.slot_kind !== 'service').length;
      out.push({
        id: w.id,
        gpus,
        gpu_used: mine.reduce((s, t) => s + Math.max(0, t.gpu ?? 0), 0),
        batch_free: w.slots.batch_total - batchUsed,
        service_free: w.slots.service_total - (mine.length - batchUsed),
        cpu_free: w.capabilities.cpu_cores - mine.reduce((s, t) => s + (t.cpu ?? 0), 0),
        memory_free_gb: w.capabilities.memory_gb - mine.reduce((s, t) => s + (t.memory_gb ?? 0), 0),
      });
    }
    return out;
  }
}

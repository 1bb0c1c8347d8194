/**
 * The control end of the agent channel: authenticates the WebSocket upgrade, speaks the protocol
 * of shared/protocol.ts, applies agents' task reports through TaskService.transition (so every
 * change is audited and announced), reconciles on hello, dispatches queued work and notices
 * workers that went silent. Decisions live in dispatch.ts and reconcile.ts; this is the shell.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuditEventDraft, Task, TaskStatus, Worker } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseFrame,
  type AgentMessage,
  type AgentTaskState,
  type HeartbeatMessage,
  type ControlMessage,
  type HelloMessage,
  type LogChunkMessage,
  type TaskStatusMessage,
} from '../../shared/protocol.js';
import { SECOND } from '../../shared/time.js';
import type { ControlContext } from '../context.js';
import { commitAndAnnounce } from '../services/actor.js';
import { applyTaskReport } from '../services/task-reports.js';
import type { SchedWorker } from '../scheduler/types.js';
import { decideGangStatus, gangStops, isGang, rankOf, type NodeStop } from './gang.js';
import { attachScheduler, detachScheduler } from './live.js';
import { decideStatus, lostTaskDecision, nodeWorkers, overdueWorkers, reconcileHello, requeuePatch } from './reconcile.js';
import { WorkerRegistry } from './registry.js';
import { durableAcks } from './durable-acks.js';
import { writeBatcher } from '../../shared/write-batching.js';
import { createSchedulerLoop, type SchedulerLoop } from './scheduler-loop.js';

export interface AgentGateway {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  workers(): Worker[];
  /** The API's view of one worker (stored record + live state). */
  worker(id: string): Worker | undefined;
  /** Connected workers as the planner sees them (for reservation feasibility). */
  planWorkers(): SchedWorker[];
  scheduler: SchedulerLoop;
  /** Runs a scheduling pass now and resolves once it is applied (also triggered by events). */
  dispatch(): Promise<void>;
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** The shared agent secret; defaults to ctx.config.agentToken, then FETCHML_AGENT_TOKEN. */
  agentToken?: string;
  /** How long a new connection may take to say hello. */
  helloTimeoutMs?: number;
}

/** Heartbeats come three times per timeout, so one lost heartbeat never makes a worker offline. */
export function heartbeatIntervalMs(workerTimeoutMs: number): number {
  return Math.round(Math.min(10 * SECOND, Math.max(100, workerTimeoutMs / 3)));
}

function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (!presented || !expected) return false;
  // Hash both so the comparison is constant-time regardless of length.
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function createAgentGateway(ctx: ControlContext, opts: GatewayOptions = {}): AgentGateway {
  const log = ctx.logger.child({ part: 'agent-gateway' });
  const expectedToken = opts.agentToken ?? (ctx.config as { agentToken?: string }).agentToken ?? process.env.FETCHML_AGENT_TOKEN ?? '';
  const timeoutMs = ctx.config.workerTimeoutMs;
  const registry = new WorkerRegistry(ctx);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  let closed = false;

  /** Per agent connection: frames sent in one tick leave in one write (shared/write-batching.ts). */
  const batchers = new WeakMap<WebSocket, () => void>();
  const send = (ws: WebSocket, msg: ControlMessage) => {
    if (ws.readyState !== ws.OPEN) return;
    batchers.get(ws)?.();
    ws.send(JSON.stringify(msg));
  };
  const sendTo = (workerId: string | undefined, msg: ControlMessage) => {
    const l = workerId ? registry.live.get(workerId) : undefined;
    if (l) send(l.socket, msg);
  };

  // ---- scheduling: the planner's coalesced passes (scheduler-loop.ts) ----
  const loop = createSchedulerLoop(ctx, registry, (workerId, task) => sendTo(workerId, { type: 'assign', task }));
  /** Per-node agent states of running gangs (in memory; re-learned from hello and status frames). */
  const gangStates = new Map<string, { epoch: number; states: (AgentTaskState | undefined)[] }>();
  const statesOf = (t: Task) => {
    const g = gangStates.get(t.id);
    return g && g.epoch === t.epoch ? g.states : [];
  };
  /** Every cancel goes through here: the copy's resources stay held until the agent says it stopped (stopping-holds.ts). */
  const sendCancel = (workerId: string, t: Task | undefined, taskId: string, epoch: number, reason: string) => {
    if (t) registry.holdStopping(workerId, t, epoch);
    sendTo(workerId, { type: 'cancel', task_id: taskId, epoch, reason });
  };
  const stopNodes = (t: Task, stops: readonly NodeStop[], reason: string) => {
    for (const s of stops) sendCancel(s.worker_id, t, t.id, t.epoch, reason);
  };

  // ---- task changes made elsewhere (API create/cancel, scheduler) ----
  const onTask = (t: Task, prev?: TaskStatus) => {
    registry.track(t); // follows the store's memory, which may be further on than the event
    if (t.status === 'cancelled' && prev && !isFinalStatus(prev) && prev !== 'queued') {
      for (const w of nodeWorkers(t)) sendCancel(w, t, t.id, t.epoch, 'cancelled through the API');
    }
    if (t.status !== 'preparing' && t.status !== 'running' && t.status !== 'collecting') gangStates.delete(t.id);
    if (isFinalStatus(t.status)) refusals.delete(t.id);
    loop.noteTask(t, prev);
  };
  const onWorker = (w: Worker) => {
    const l = registry.live.get(w.id);
    if (!l) return;
    const draining = w.status === 'draining';
    if (l.draining !== undefined && l.draining !== draining) {
      l.draining = draining;
      send(l.socket, { type: 'drain', draining });
    }
    loop.request();
  };
  ctx.events.on('task', onTask);
  ctx.events.on('worker', onWorker);

  /**
   * Stops a task's nodes from control's side and requeues it (or fails it past max_retries): a
   * lost worker, a drain deadline. A gang goes as a unit: every other node is sent cancel.
   */
  const lose = async (t: Task, workerId: string, why: 'lost' | 'drain' = 'lost') => {
    const cur = ctx.store.get('tasks', t.id);
    if (!cur || cur.epoch !== t.epoch || isFinalStatus(cur.status) || cur.status === 'queued' || !nodeWorkers(cur).includes(workerId)) return;
    const now = ctx.clock.now();
    const d =
      why === 'drain'
        ? { patch: requeuePatch(cur, `worker ${workerId} drained (deadline passed); requeued`, now, undefined, false), event: 'job_requeued' as const }
        : lostTaskDecision(cur, workerId, now);
    const reason = why === 'drain' ? 'drain deadline passed' : 'worker lost';
    stopNodes(cur, why === 'drain' ? gangStops(cur) : gangStops(cur, workerId), `${reason}; the task is stopped as a unit`);
    const extra: AuditEventDraft[] = d.event === 'job_requeued' ? [audit(cur, 'job_requeued', 'requeue', { worker_id: workerId, reason })] : [];
    await ctx.tasks.transition(cur.id, d.patch, extra);
  };

  // ---- frames from one agent ----
  const onStatus = async (workerId: string, ws: WebSocket, m: TaskStatusMessage) => {
    if (typeof m.task_id !== 'string' || typeof m.epoch !== 'number' || typeof m.state !== 'string') return;
    if ((m.state === 'completed' || m.state === 'failed' || m.state === 'cancelled') && registry.releaseStopping(workerId, m.task_id, m.epoch)) loop.request();
    const t = ctx.store.get('tasks', m.task_id);
    if (t && isGang(t) && (m.epoch === t.epoch || rankOf(t, workerId) >= 0)) {
      await onGangStatus(t, workerId, ws, m);
      return;
    }
    const refusedNow = m.refused === true && m.state === 'failed';
    const d = decideStatus(t, m, workerId, ctx.clock.now(), refusals.get(m.task_id) ?? 0);
    if (refusedNow && d.kind === 'apply') {
      // The agent saw what control did not (a slot or GPU still busy, a GPU gone bad): plan
      // nothing more there until its next heartbeat says what it has.
      refusals.set(m.task_id, (refusals.get(m.task_id) ?? 0) + 1);
      registry.holdOutUntilHeartbeat(workerId);
      log.warn({ worker: workerId, task: m.task_id, reason: m.error }, 'agent refused an assignment; requeued');
    }
    let durable: Promise<unknown> | undefined;
    if (d.kind === 'ignore') {
      if (d.cancel) sendCancel(workerId, t, d.cancel.task_id, d.cancel.epoch, d.cancel.reason);
    } else if (t) {
      const patch = { ...d.patch };
      if (patch.status && isFinalStatus(patch.status)) {
        try {
          patch.output = await ctx.logs.tail(t.id, ctx.config.logTailBytes);
        } catch {
          /* no log yet */
        }
      }
      const cur = ctx.store.get('tasks', t.id);
      if (cur && cur.status === t.status && cur.epoch === t.epoch) {
        const extra = d.event === 'job_requeued' ? [audit(t, 'job_requeued', 'requeue', { worker_id: workerId, reason: m.error ?? 'infrastructure failure' })] : [];
        // Applied to memory now (the next frame sees it); only the ack waits for durability.
        durable = ctx.tasks.transition(t.id, patch, extra);
      }
    }
    ackWhenDurable(ws, { type: 'task_ack', task_id: m.task_id, epoch: m.epoch, state: m.state }, durable);
  };

  /** Per task: how often agents refused it (decideStatus spends no retry on the first few). */
  const refusals = new Map<string, number>();
  const ackWhenDurable = durableAcks(send, (err, task) => log.error({ err, task }, 'could not apply a task status'));

  const onGangStatus = async (t: Task, workerId: string, ws: WebSocket, m: TaskStatusMessage) => {
    const d = decideGangStatus(t, m, workerId, statesOf(t), ctx.clock.now());
    let durable: Promise<unknown> | undefined;
    if (d.kind === 'ignore') {
      if (d.cancel) sendCancel(workerId, t, d.cancel.task_id, d.cancel.epoch, d.cancel.reason);
    } else {
      gangStates.set(t.id, { epoch: t.epoch, states: d.states });
      if (d.kind === 'apply') {
        const patch = { ...d.patch };
        if (patch.status && isFinalStatus(patch.status)) patch.output = await ctx.logs.tail(t.id, ctx.config.logTailBytes).catch(() => '');
        const cur = ctx.store.get('tasks', t.id);
        if (cur && cur.status === t.status && cur.epoch === t.epoch) {
          stopNodes(t, d.stop, 'another node of the gang ended');
          const extra = d.event === 'job_requeued' ? [audit(t, 'job_requeued', 'requeue', { worker_id: workerId, reason: patch.error ?? 'gang node failed' })] : [];
          durable = ctx.tasks.transition(t.id, patch, extra);
        }
      }
    }
    ackWhenDurable(ws, { type: 'task_ack', task_id: m.task_id, epoch: m.epoch, state: m.state }, durable);
  };

  const onLog = async (workerId: string, ws: WebSocket, m: LogChunkMessage) => {
    if (typeof m.task_id !== 'string' || typeof m.data !== 'string' || !Number.isSafeInteger(m.offset) || m.offset < 0) return;
    const t = ctx.store.get('tasks', m.task_id);
    const rank = t ? (isGang(t) ? rankOf(t, workerId) : t.worker_id === workerId ? 0 : -1) : -1;
    if (!t || rank < 0 || t.epoch !== m.epoch) {
      send(ws, { type: 'task_ack', task_id: m.task_id, epoch: m.epoch, log_offset: m.offset + Buffer.byteLength(m.data) });
      return;
    }
    // Rank 0 writes the task's log; the other nodes of a gang each get <task>_node<rank>.
    await ctx.logs.append(nodeLogId(t.id, rank), m.offset, m.data);
    send(ws, { type: 'task_ack', task_id: m.task_id, epoch: m.epoch, log_offset: m.offset + Buffer.byteLength(m.data) });
  };

  const onHello = async (ws: WebSocket, hello: HelloMessage, address: string | undefined): Promise<string | undefined> => {
    if (hello.protocol !== PROTOCOL_VERSION) {
      send(ws, { type: 'error', code: 'PROTOCOL_MISMATCH', message: `control speaks agent protocol ${PROTOCOL_VERSION}, this agent speaks ${String(hello.protocol)}; upgrade the older side` });
      ws.close(4002, 'protocol mismatch');
      log.warn({ protocol: hello.protocol, address }, 'agent with an incompatible protocol refused');
      return undefined;
    }
    if (typeof hello.worker_id !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(hello.worker_id) || !hello.capabilities || !hello.slots || !Array.isArray(hello.running)) {
      send(ws, { type: 'error', code: 'BAD_MESSAGE', message: 'malformed hello' });
      ws.close(4000, 'bad hello');
      return undefined;
    }
    const w = await registry.connect(hello, ws, address);
    send(ws, { type: 'welcome', protocol: PROTOCOL_VERSION, worker_id: w.id, heartbeat_interval_ms: heartbeatIntervalMs(timeoutMs), draining: w.status === 'draining' });
    const live = registry.live.get(w.id);
    if (live) live.draining = w.status === 'draining';
    const r = reconcileHello(w.id, hello.running, (id) => ctx.store.get('tasks', id), registry.tasksOn(w.id));
    for (const c of r.cancel) sendCancel(w.id, ctx.store.get('tasks', c.task_id), c.task_id, c.epoch, c.reason);
    for (const rep of hello.running) {
      const t = ctx.store.get('tasks', rep.task_id);
      if (t && isGang(t) && t.epoch === rep.epoch && rankOf(t, w.id) >= 0) {
        const states = [...statesOf(t)];
        states[rankOf(t, w.id)] = rep.state;
        gangStates.set(t.id, { epoch: t.epoch, states });
      }
    }
    for (const t of r.lost) await lose(t, w.id);
    log.info({ worker: w.id, worker_name: w.name, running: hello.running.length, lost: r.lost.length, cancelled: r.cancel.length }, 'agent connected');
    loop.request();
    return w.id;
  };

  const onConnection = (ws: WebSocket, req: IncomingMessage) => {
    const address = req.socket.remoteAddress;
    batchers.set(ws, writeBatcher(req.socket));
    let workerId: string | undefined;
    let chain: Promise<unknown> = Promise.resolve();
    const helloTimer = setTimeout(() => {
      if (!workerId) ws.close(4000, 'no hello');
    }, opts.helloTimeoutMs ?? 10 * SECOND);
    helloTimer.unref();
    ws.on('message', (data, isBinary) => {
      // Frames of one agent are applied in order: a status must not overtake the one before it.
      chain = chain.then(async () => {
        const m = isBinary ? undefined : parseFrame<AgentMessage>(data.toString());
        if (!m) {
          send(ws, { type: 'error', code: 'BAD_MESSAGE', message: 'frames are JSON objects with a string type' });
          return;
        }
        if (!workerId) {
          if (m.type !== 'hello') {
            send(ws, { type: 'error', code: 'BAD_MESSAGE', message: 'say hello first' });
            return;
          }
          workerId = await onHello(ws, m, address);
          clearTimeout(helloTimer);
          return;
        }
        registry.touch(workerId);
        if (m.type === 'heartbeat') {
          const before = registry.live.get(workerId)?.heartbeat;
          const released = registry.heartbeat(workerId, m);
          if (registry.queued.size > 0 && (released || freedCapacity(before, m))) loop.request();
        } else if (m.type === 'task_status') await onStatus(workerId, ws, m);
        else if (m.type === 'log_chunk') await onLog(workerId, ws, m);
        else if (m.type === 'task_report') await applyTaskReport(ctx, workerId, m);
      }).catch((err: unknown) => log.error({ err, worker: workerId }, 'agent frame failed'));
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (workerId) {
        registry.disconnect(workerId, ws);
        log.info({ worker: workerId }, 'agent disconnected');
      }
    });
    ws.on('error', (err) => log.warn({ err, worker: workerId }, 'agent socket error'));
  };
  wss.on('connection', onConnection);

  // ---- silent workers ----
  let checking = false;
  const checkOffline = async () => {
    if (checking || closed) return;
    checking = true;
    try {
      const now = ctx.clock.now();
      const views = [...ctx.store.values('workers')].map((w) => ({ id: w.id, status: w.status, last_seen: registry.lastSeen(w.id) }));
      for (const w of ctx.store.values('workers')) {
        if (w.status !== 'draining' || !w.drain_deadline || !(Date.parse(w.drain_deadline) <= now)) continue;
        const tasks = registry.tasksOn(w.id);
        if (tasks.length) log.info({ worker: w.id, tasks: tasks.length }, 'drain deadline passed: stopping and requeueing its tasks');
        for (const t of tasks) await lose(t, w.id, 'drain');
      }
      for (const id of overdueWorkers(views, now, timeoutMs)) {
        const seconds = Math.round(timeoutMs / 1000);
        log.warn({ worker: id }, `worker silent for over ${seconds} s: offline, requeueing its tasks`);
        const tasks = registry.tasksOn(id);
        await registry.markOffline(id, `no heartbeat for ${seconds} s`);
        for (const t of tasks) await lose(t, id);
      }
    } catch (err) {
      log.error({ err }, 'offline check failed');
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void checkOffline(), Math.max(50, Math.min(SECOND, timeoutMs / 4)));
  timer.unref();

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const auth = req.headers.authorization;
    const presented = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    if (closed || !tokenMatches(presented, expectedToken)) {
      const ip = req.socket.remoteAddress;
      if (!closed) {
        log.warn({ ip }, 'agent connection refused: invalid agent token');
        void commitAndAnnounce(ctx.store, ctx.events, [], [
          { event_type: 'auth_attempt', action: 'agent_connect', success: false, error: presented ? 'invalid agent token' : 'missing agent token', ...(ip ? { ip_address: ip } : {}) },
        ]).catch(() => undefined);
      }
      const body = JSON.stringify({ error: closed ? 'control is shutting down' : 'invalid agent token', code: closed ? 'SERVICE_UNAVAILABLE' : 'UNAUTHORIZED', trace_id: '' });
      socket.end(`HTTP/1.1 ${closed ? '503 Service Unavailable' : '401 Unauthorized'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };

  // Tasks that were queued before control restarted wait for the first agent's hello.
  const gateway: AgentGateway = {
    handleUpgrade,
    workers: () => registry.workers(),
    worker: (id) => {
      const w = registry.stored(id);
      return w ? registry.view(w) : undefined;
    },
    planWorkers: () => registry.planWorkers(),
    scheduler: loop,
    dispatch: () => loop.runNow(),
    async close() {
      closed = true;
      clearInterval(timer);
      ctx.events.off('task', onTask);
      ctx.events.off('worker', onWorker);
      detachScheduler(ctx, gateway);
      await loop.close();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
  attachScheduler(ctx, gateway);
  return gateway;
}

export const nodeLogId = (taskId: string, rank: number) => (rank === 0 ? taskId : `${taskId}_node${rank}`);

/** A heartbeat that shows fewer slots in use, or a GPU healthy again, may let a waiting task start. */
function freedCapacity(before: HeartbeatMessage | undefined, now: HeartbeatMessage): boolean {
  if (!before) return true;
  const used = (h: HeartbeatMessage) => (h.slots_used?.batch ?? 0) + (h.slots_used?.service ?? 0);
  if (used(now) < used(before)) return true;
  const healthy = (h: HeartbeatMessage) => (Array.isArray(h.gpus) ? h.gpus.filter((g) => g?.healthy).length : 0);
  return healthy(now) > healthy(before);
}

function audit(t: Task, type: AuditEventDraft['event_type'], action: string, metadata: Record<string, unknown>): AuditEventDraft {
  return { event_type: type, user_id: t.user_id, resource: `task:${t.id}`, action, success: true, metadata };
}


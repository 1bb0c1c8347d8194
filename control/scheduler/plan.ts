/**
 * The planner: one pure pass over a snapshot of the queue, workers and reservations.
 * No I/O, no timers; `now` comes in. docs/scheduling.md describes the policy; in short:
 *
 *  1. Reservations: expire those due, hold the GPUs of the rest (reservations.ts).
 *  2. Walk the queue by effective priority (priority.ts), FIFO within equals.
 *  3. A task that fits starts (gangs: N distinct workers or nothing).
 *  4. The first task that does not fit, but could on this cluster, is the head: the pass holds
 *     for it (its "shadow") free capacity on the workers closest to fitting it, up to what it
 *     needs. Lower-priority tasks keep backfilling, but only onto capacity nobody holds, so they
 *     never delay the head; as work ends on its workers the hold grows until the head starts.
 *
 * Speed (100k tasks × 1,000 workers): the order is one native sort of packed keys; tasks with
 * the same request shape share a cache entry: once a shape fails it fails for the rest of the
 * pass (free capacity only shrinks), and a per-shape cursor skips workers that already failed it.
 * New shapes searched per pass are capped (config.maxFitSearches).
 */
import { BATCH, fitsNow, fitsTotal, holdGpus, matchingGpus, Pool, SERVICE, take, totalGpus, type NodeState, type Req } from './pool.js';
import { ageInto, agingOf, fifoOrder, fifoSeq, orderByPriority, resolveConfig, type AgedArrays } from './priority.js';
import { LazyPending } from './pending.js';
import { waitingReason, countFits, impossibleReason } from './reasons.js';
import { placeReservations, releaseHold, reholdLeftover, reservationHoldsView, type ReservationHold } from './reservations.js';
import type { CapacityHold, PlanInput, PlanResult, SchedTask, TaskStart } from './types.js';

export const NOT_EXAMINED = 'not examined this pass (backfill depth reached)';

interface Shape {
  req: Req;
  /** The nodes worth scanning (pool.nodesFor). */
  list: NodeState[];
  cursor: number;
  failed: boolean;
  /** Searched at least once this pass (counts against config.maxFitSearches). */
  searched: boolean;
  reason: string | undefined;
}

const nonNeg = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const atLeastOne = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 1 ? Math.floor(v) : 1);

export function plan(input: PlanInput): PlanResult {
  const cfg = resolveConfig(input?.config);
  const now = typeof input?.now === 'number' && Number.isFinite(input.now) ? input.now : 0;
  const queue: readonly SchedTask[] = Array.isArray(input?.queue) ? input.queue : [];
  const pool = new Pool(Array.isArray(input?.workers) ? input.workers : []);
  const { active: resHolds, decisions } = placeReservations(pool, Array.isArray(input?.reservations) ? input.reservations : [], now);

  const n = queue.length;
  const aged: AgedArrays = { base: new Float64Array(n), bonus: new Float64Array(n), eff: new Float64Array(n) };
  const { base, bonus, eff } = aged;

  const starts: TaskStart[] = [];
  const waiting = new Uint32Array(n);
  const reasons: (string | undefined)[] = [];
  let waitingCount = 0;
  const wait = (qi: number, reason: string | undefined) => {
    waiting[waitingCount] = qi;
    if (reason !== undefined) reasons[waitingCount] = reason;
    waitingCount++;
  };
  const detailed = () => waitingCount < cfg.detailedReasons;

  const slotsLeft = [pool.slotsFree(BATCH), pool.slotsFree(SERVICE)];
  const shapes = new Map<string | number, number>();
  const typeIds = new Map<string, number>();
  let head: { id: string; eff: number; req: Req } | undefined;
  const headHolds: CapacityHold[] = [];

  const reqOf = (t: SchedTask): Req => {
    const gpuType = typeof t.gpu_type === 'string' && t.gpu_type.trim() ? t.gpu_type : undefined;
    const gpu = Math.ceil(nonNeg(t.gpu));
    return {
      gpu,
      cpu: nonNeg(t.cpu),
      mem: nonNeg(t.memory_gb),
      kind: t.slot_kind === 'service' ? SERVICE : BATCH,
      nodes: atLeastOne(t.node_count),
      gpuType,
      mask: gpu > 0 ? pool.mask(gpuType) : null,
    };
  };

  const shapeKey = (t: SchedTask): string | number => {
    let ti = 0;
    if (typeof t.gpu_type === 'string' && t.gpu_type !== '') {
      ti = typeIds.get(t.gpu_type) ?? typeIds.size + 1;
      if (ti > typeIds.size) typeIds.set(t.gpu_type, ti);
    }
    const g = t.gpu, c = t.cpu ?? 0, m = t.memory_gb ?? 0, nc = t.node_count;
    // Exact packing into a small integer (V8 hashes those fastest) when every field is a small
    // whole number, the common case (29 bits); anything else gets a string key.
    if (isSmall(g, 16) && isSmall(nc, 8) && isSmall(c, 128) && isSmall(m, 2048) && ti < 8) {
      return ((((g * 8 + nc) * 2 + (t.slot_kind === 'service' ? 1 : 0)) * 8 + ti) * 128 + c) * 2048 + m;
    }
    return `${g}|${nc}|${t.slot_kind}|${t.gpu_type}|${c}|${m}`;
  };

  const place = (t: SchedTask, r: Req, nodes: NodeState[], qi: number, reservationId?: string) => {
    for (const nd of nodes) take(nd, r);
    slotsLeft[r.kind]! -= nodes.length;
    const s: TaskStart = {
      task_id: t.id,
      nodes: nodes.map((nd, rank) => ({ rank, worker_id: nd.id, gpus: r.gpu })),
      priority_aged: { base: base[qi]!, age_bonus: bonus[qi]!, effective: eff[qi]! },
    };
    if (reservationId !== undefined) s.reservation_id = reservationId;
    starts.push(s);
  };

  const failures = new Map<string, { gpu: number; cpu: number; mem: number }[]>();
  const shapeList: Shape[] = [];
  /** The task's shape index; -1 for an unreadable task. */
  const shapeIndex = (t: SchedTask): number => {
    let key: string | number;
    try {
      key = shapeKey(t);
    } catch {
      return -1;
    }
    let si = shapes.get(key);
    if (si === undefined) {
      si = shapeList.length;
      shapeList.push({ req: reqOf(t), list: pool.nodes, cursor: 0, failed: false, searched: false, reason: undefined });
      shapes.set(key, si);
    }
    return si;
  };

  // Pass 1, in input (memory) order: each task's priority breakdown (priority.ts agePriorities),
  // whether the input is in FIFO order (queueOrder), and its shape, or CLAIMS when it may use a
  // reservation. One walk over the task objects instead of three: touching 100k objects is what
  // costs. The priority-order walk below then reads typed arrays and touches a task object only
  // when it starts or waits specially.
  const UNREADABLE = -1;
  const CLAIMS = -2;
  const shapeOf = new Int32Array(n);
  const aging = agingOf(now, cfg);
  let inFifoOrder = true;
  let prevSeq = 0;
  for (let i = 0; i < n; i++) {
    const t = queue[i];
    ageInto(t, i, aged, aging);
    const seq = fifoSeq(t);
    if (i > 0 && !(prevSeq <= seq)) inFifoOrder = false;
    prevSeq = seq;
    if (!t || typeof t.id !== 'string') {
      shapeOf[i] = UNREADABLE;
      continue;
    }
    const hold = typeof t.reservation_id === 'string' ? resHolds.get(t.reservation_id) : undefined;
    shapeOf[i] = hold && hold.res.user_id === t.user_id ? CLAIMS : shapeIndex(t);
  }

  const order = orderByPriority(n, inFifoOrder ? undefined : fifoOrder(queue), eff);

  let searches = 0;
  for (let pos = 0; pos < n; pos++) {
    const qi = order[pos]!;
    let si = shapeOf[qi]!;
    if (si === UNREADABLE) continue; // neither started nor listed
    if (si === CLAIMS) {
      // A task that names an active reservation of its own user may use the held GPUs; once the
      // reservation is claimed (by an earlier task this pass) it is an ordinary task.
      const t = queue[qi]!;
      const hold = resHolds.get(t.reservation_id!)!;
      if (!hold.claimed) {
        claim(t, qi, hold);
        continue;
      }
      si = shapeIndex(t);
      if (si === UNREADABLE) continue;
    }
    const shape = shapeList[si]!;
    if (!shape.searched) {
      if (searches >= cfg.maxFitSearches) {
        wait(qi, NOT_EXAMINED);
        continue;
      }
      searches++;
      shape.searched = true;
      shape.list = pool.nodesFor(shape.req);
      shape.failed = dominated(shape.req);
    }
    if (shape.failed) {
      if (shape.reason === undefined && detailed()) shape.reason = waitingReason(pool, shape.req, head);
      wait(qi, detailed() ? shape.reason : undefined);
      continue;
    }
    const r = shape.req;
    const found = slotsLeft[r.kind]! >= r.nodes ? search(shape) : null;
    const t = queue[qi]!;
    if (found) {
      place(t, r, found, qi);
      continue;
    }
    shape.failed = true;
    recordFailure(r);
    if (!head && becomeHead(t, r)) {
      head = { id: t.id, eff: eff[qi]!, req: r };
      wait(qi, waitingReason(pool, r, undefined, true));
      continue;
    }
    if (detailed()) shape.reason = waitingReason(pool, r, head);
    wait(qi, detailed() ? shape.reason : undefined);
  }

  /**
   * Failed requests, per (gpu type, slot kind, node count), as a Pareto frontier of minimal
   * (gpu, cpu, mem). A new request that asks at least as much as a failed one fails too (free
   * capacity only shrinks in a pass), with no scan.
   */
  function groupKey(r: Req): string {
    return `${r.gpu > 0 ? (r.gpuType ?? '') : ''}|${r.kind}|${r.nodes}`;
  }
  function dominated(r: Req): boolean {
    const frontier = failures.get(groupKey(r));
    if (!frontier) return false;
    for (let i = 0; i < frontier.length; i++) {
      const f = frontier[i]!;
      if (r.gpu >= f.gpu && r.cpu >= f.cpu && r.mem >= f.mem) return true;
    }
    return false;
  }
  function recordFailure(r: Req) {
    const k = groupKey(r);
    const frontier = (failures.get(k) ?? []).filter((f) => !(f.gpu >= r.gpu && f.cpu >= r.cpu && f.mem >= r.mem));
    frontier.push({ gpu: r.gpu, cpu: r.cpu, mem: r.mem });
    failures.set(k, frontier);
  }

  /** First fit from the shape's cursor: N distinct workers or null. */
  function search(shape: Shape): NodeState[] | null {
    const r = shape.req;
    const nodes = shape.list;
    let found: NodeState[] | null = null;
    for (let i = shape.cursor; i < nodes.length; i++) {
      const nd = nodes[i]!;
      if (fitsNow(nd, r)) {
        (found ??= []).push(nd);
        if (found.length === r.nodes) return found;
      } else if (found === null) {
        shape.cursor = i + 1; // free capacity only shrinks in a pass: this worker will not fit later either
      }
    }
    return null;
  }

  /** The claiming task sees free capacity plus its reservation's hold; its leftover stays held. */
  function claim(t: SchedTask, qi: number, hold: ReservationHold) {
    const r = reqOf(t);
    releaseHold(hold);
    const found: NodeState[] = [];
    // Prefer the reserved workers, then anything else that fits.
    const reserved = hold.entries.map((e) => e.node);
    for (const nd of [...reserved, ...pool.nodes]) {
      if (found.length === r.nodes) break;
      if (!found.includes(nd) && fitsNow(nd, r)) found.push(nd);
    }
    if (found.length === r.nodes) {
      place(t, r, found, qi, hold.res.id);
      hold.claimed = true;
      decisions.push({ id: hold.res.id, status: 'claimed', task_id: t.id });
      reholdLeftover(hold);
      return;
    }
    const why = detailed() ? `waiting for reservation ${hold.res.id}: ${waitingReason(pool, r, undefined)}` : undefined;
    reholdLeftover(hold);
    wait(qi, why);
  }

  /**
   * Makes `t` the head if it could ever run here: holds, on the r.nodes workers closest to
   * fitting it, the free capacity it needs (up to its request). Returns false when it cannot run.
   */
  function becomeHead(t: SchedTask, r: Req): boolean {
    const c = countFits(pool, r);
    if (impossibleReason(pool, r, c) !== undefined) return false;
    const ready = (nd: NodeState) =>
      share(nd.slotFree[r.kind], 1) + share(nd.cpuFree, r.cpu) + share(nd.memFree, r.mem) + share(matchingGpus(nd, r.mask, false, false), r.gpu);
    // Workers whose GPUs a reservation holds cannot serve the head while it lasts: prefer the
    // others, so the head's hold never takes the slot a reservation's owner needs.
    const reserved = (nd: NodeState) => matchingGpus(nd, r.mask, false, true) - matchingGpus(nd, r.mask, false, false);
    const candidates = pool.nodes.filter((nd) => fitsTotal(nd, r));
    const unreserved = r.gpu > 0 ? candidates.filter((nd) => totalGpus(nd, r.mask) - reserved(nd) >= r.gpu) : candidates;
    const shadow = (unreserved.length >= r.nodes ? unreserved : candidates)
      .map((nd) => ({ nd, score: ready(nd) }))
      .sort((a, b) => b.score - a.score || a.nd.order - b.nd.order)
      .slice(0, r.nodes);
    for (const { nd } of shadow) {
      const gpus = r.gpu > 0 ? holdGpus(nd, r.mask, Math.min(r.gpu, matchingGpus(nd, r.mask, false, false)), nd.gHead).total : 0;
      const cpu = Math.min(nd.cpuFree, r.cpu);
      const mem = Math.min(nd.memFree, r.mem);
      nd.cpuFree -= cpu;
      nd.headCpu += cpu;
      nd.memFree -= mem;
      nd.headMem += mem;
      const h: CapacityHold = { worker_id: nd.id, for_task: t.id, gpus, cpu, memory_gb: mem };
      if (nd.slotFree[r.kind] >= 1) {
        nd.slotFree[r.kind]--;
        nd.headSlot[r.kind]++;
        slotsLeft[r.kind]!--;
        h.slot = r.kind === SERVICE ? 'service' : 'batch';
      }
      headHolds.push(h);
    }
    return true;
  }

  const result: PlanResult = {
    starts,
    pending: new LazyPending(queue, waiting, waitingCount, reasons, base, bonus, eff),
    reservations: decisions,
    holds: [...headHolds, ...reservationHoldsView(resHolds)],
  };
  if (head) result.head = { task_id: head.id, priority: head.eff };
  return result;
}

const isSmall = (v: unknown, limit: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < limit;
/** How much of a need is met, 0…1 (a need of 0 is met). */
const share = (have: number, need: number) => (need <= 0 ? 1 : Math.min(have, need) / need);

/**
 * The planner's mutable working copy of the cluster for one pass: per active worker, free and
 * total capacity, plus what the pass holds back (for the blocked head task, for reservations).
 * Free capacity only ever goes down during a pass (a claiming task briefly gets its own
 * reservation's hold back, see plan.ts); the planner's caches rely on that.
 */
import { gpuTypeMatches } from '../../shared/resources.js';
import type { SchedWorker } from './types.js';

export const BATCH = 0;
export const SERVICE = 1;
export type Kind = typeof BATCH | typeof SERVICE;

/** A task's per-node request, sanitised. `mask` says which GPU name ids match gpu_type (null: any). */
export interface Req {
  gpu: number;
  cpu: number;
  mem: number;
  kind: Kind;
  nodes: number;
  gpuType: string | undefined;
  mask: Uint8Array | null;
}

export class NodeState {
  /** GPU groups by probed name: name id, free now, healthy in total. */
  readonly gName: number[] = [];
  readonly gFree: number[] = [];
  readonly gTotal: number[] = [];
  /** Held for the head task / for reservations, per group (already taken out of gFree). */
  readonly gHead: number[] = [];
  readonly gRes: number[] = [];
  cpuFree: number;
  memFree: number;
  readonly slotFree: [number, number];
  readonly slotTotal: [number, number];
  headCpu = 0;
  headMem = 0;
  readonly headSlot: [number, number] = [0, 0];

  constructor(
    readonly id: string,
    readonly order: number,
    readonly cpuTotal: number,
    readonly memTotal: number,
    w: SchedWorker,
  ) {
    this.cpuFree = Math.min(num(w.cpu_free), cpuTotal);
    this.memFree = Math.min(num(w.memory_free_gb), memTotal);
    this.slotTotal = [count(w.batch_total), count(w.service_total)];
    this.slotFree = [Math.min(count(w.batch_free), this.slotTotal[0]), Math.min(count(w.service_free), this.slotTotal[1])];
  }
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const count = (v: unknown) => Math.floor(num(v));

export class Pool {
  readonly nodes: NodeState[] = [];
  private readonly names: string[] = [];
  private readonly nameIds = new Map<string, number>();
  private readonly masks = new Map<string, Uint8Array | null>();

  constructor(workers: readonly SchedWorker[]) {
    workers.forEach((w, i) => {
      if (!w || w.status !== 'active' || typeof w.id !== 'string') return;
      const node = new NodeState(w.id, i, num(w.cpu_total), num(w.memory_total_gb), w);
      for (const g of Array.isArray(w.gpus) ? w.gpus : []) {
        if (!g || g.healthy !== true) continue;
        const gi = this.group(node, typeof g.name === 'string' ? g.name : '');
        node.gTotal[gi]!++;
        if (g.free === true) node.gFree[gi]!++;
      }
      this.nodes.push(node);
    });
    // Best fit, roughly: small requests meet partly used workers first, whole free nodes stay
    // whole for big requests and gangs. Ties keep the input order.
    this.nodes.sort((a, b) => sum(a.gFree) - sum(b.gFree) || a.order - b.order);
  }

  private group(node: NodeState, name: string): number {
    let id = this.nameIds.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.nameIds.set(name, id);
    }
    let gi = node.gName.indexOf(id);
    if (gi < 0) {
      gi = node.gName.length;
      node.gName.push(id);
      node.gFree.push(0);
      node.gTotal.push(0);
      node.gHead.push(0);
      node.gRes.push(0);
    }
    return gi;
  }

  /** Which GPU name ids a requested gpu_type matches (null: no type asked, any GPU). */
  mask(gpuType: string | undefined): Uint8Array | null {
    if (!gpuType) return null;
    let m = this.masks.get(gpuType);
    if (m === undefined) {
      m = new Uint8Array(this.names.length);
      for (let i = 0; i < this.names.length; i++) m[i] = gpuTypeMatches(gpuType, this.names[i]) ? 1 : 0;
      this.masks.set(gpuType, m);
    }
    return m;
  }

  private readonly lists = new Map<Uint8Array | null, NodeState[]>();

  /**
   * The nodes worth scanning for a request: those with at least one healthy matching GPU when it
   * asks for GPUs, else all. Pool order is kept.
   */
  nodesFor(r: Req): NodeState[] {
    if (r.gpu === 0) return this.nodes;
    let list = this.lists.get(r.mask);
    if (list === undefined) {
      list = this.nodes.filter((n) => totalGpus(n, r.mask) > 0);
      this.lists.set(r.mask, list);
    }
    return list;
  }

  /** True when some active worker has a healthy GPU that the type matches. */
  typeExists(mask: Uint8Array | null): boolean {
    return mask === null || mask.includes(1);
  }

  /** Free slots of a kind over all nodes (exact). */
  slotsFree(kind: Kind): number {
    let s = 0;
    for (const n of this.nodes) s += n.slotFree[kind];
    return s;
  }
}

const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);

/** GPUs of the node that match the mask: free now, plus optionally what is held. */
export function matchingGpus(n: NodeState, mask: Uint8Array | null, withHead: boolean, withRes: boolean): number {
  let s = 0;
  for (let g = 0; g < n.gName.length; g++) {
    if (mask !== null && mask[n.gName[g]!] !== 1) continue;
    s += n.gFree[g]! + (withHead ? n.gHead[g]! : 0) + (withRes ? n.gRes[g]! : 0);
  }
  return s;
}

export function totalGpus(n: NodeState, mask: Uint8Array | null): number {
  let s = 0;
  for (let g = 0; g < n.gName.length; g++) if (mask === null || mask[n.gName[g]!] === 1) s += n.gTotal[g]!;
  return s;
}

/** Does one node of the request fit in free capacity now? */
export function fitsNow(n: NodeState, r: Req): boolean {
  return (
    n.slotFree[r.kind] >= 1 &&
    n.cpuFree >= r.cpu &&
    n.memFree >= r.mem &&
    (r.gpu === 0 || matchingGpus(n, r.mask, false, false) >= r.gpu)
  );
}

/** Would one node fit if the head's and/or the reservations' holds on it were free? */
export function fitsWithHolds(n: NodeState, r: Req, withHead: boolean, withRes: boolean): boolean {
  const h = withHead ? 1 : 0;
  return (
    n.slotFree[r.kind] + h * n.headSlot[r.kind] >= 1 &&
    n.cpuFree + h * n.headCpu >= r.cpu &&
    n.memFree + h * n.headMem >= r.mem &&
    (r.gpu === 0 || matchingGpus(n, r.mask, withHead, withRes) >= r.gpu)
  );
}

/** Could one node of the request ever fit on this worker (total capacity)? */
export function fitsTotal(n: NodeState, r: Req): boolean {
  return n.slotTotal[r.kind] >= 1 && n.cpuTotal >= r.cpu && n.memTotal >= r.mem && (r.gpu === 0 || totalGpus(n, r.mask) >= r.gpu);
}

/** Takes one node's worth of the request out of free capacity (caller checked fitsNow). */
export function take(n: NodeState, r: Req): void {
  n.slotFree[r.kind]--;
  n.cpuFree -= r.cpu;
  n.memFree -= r.mem;
  let left = r.gpu;
  for (let g = 0; g < n.gName.length && left > 0; g++) {
    if (r.mask !== null && r.mask[n.gName[g]!] !== 1) continue;
    const k = Math.min(left, n.gFree[g]!);
    n.gFree[g]! -= k;
    left -= k;
  }
}

/**
 * Moves up to `want` free matching GPUs into a hold array (gHead or gRes); returns per group how
 * many moved, and the total.
 */
export function holdGpus(n: NodeState, mask: Uint8Array | null, want: number, into: number[]): { perGroup: number[]; total: number } {
  const perGroup: number[] = new Array(n.gName.length).fill(0);
  let left = want;
  for (let g = 0; g < n.gName.length && left > 0; g++) {
    if (mask !== null && mask[n.gName[g]!] !== 1) continue;
    const k = Math.min(left, n.gFree[g]!);
    n.gFree[g]! -= k;
    into[g]! += k;
    perGroup[g] = k;
    left -= k;
  }
  return { perGroup, total: want - left };
}

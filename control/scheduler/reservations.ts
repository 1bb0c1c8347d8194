/**
 * Reservations in the planner. An active reservation holds `gpu_count` matching GPUs on each of
 * `node_count` distinct workers. Only a task that names the reservation AND belongs to its user
 * may use the held GPUs; everyone else plans around them. Only GPUs are held (not CPU, memory or
 * slots). Where the GPUs are not all free yet, the reservation holds what is free on the workers
 * closest to having them (most free matching GPUs, then pool order) and keeps what frees up there:
 * the same workers stay the best candidates from pass to pass, so the hold only grows.
 * `now ≥ expires_at` (or an unreadable expires_at) expires it, and it holds nothing.
 */
import { gpuTypeMatches } from '../../shared/resources.js';
import { holdGpus, matchingGpus, totalGpus, type NodeState, type Pool } from './pool.js';
import type { CapacityHold, ReservationDecision, SchedReservation, SchedWorker } from './types.js';

export interface ReservationHold {
  res: SchedReservation;
  mask: Uint8Array | null;
  gpuCount: number;
  entries: { node: NodeState; perGroup: number[] }[];
  /** Claimed during this pass: its leftover hold stays until the pass ends (see plan.ts). */
  claimed: boolean;
}

const count = (v: unknown, min: number) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(min, Math.floor(v)) : min);

/** Expires what is due and places the holds of the rest, in input order. */
export function placeReservations(
  pool: Pool,
  reservations: readonly SchedReservation[],
  now: number,
): { active: Map<string, ReservationHold>; decisions: ReservationDecision[] } {
  const active = new Map<string, ReservationHold>();
  const decisions: ReservationDecision[] = [];
  for (const res of reservations) {
    if (!res || res.status !== 'active' || typeof res.id !== 'string' || active.has(res.id)) continue;
    if (!(typeof res.expires_at === 'number' && now < res.expires_at)) {
      decisions.push({ id: res.id, status: 'expired' });
      continue;
    }
    const mask = pool.mask(res.gpu_type || undefined);
    const gpuCount = count(res.gpu_count, 0);
    const nodeCount = count(res.node_count, 1);
    const candidates = pool.nodes
      .filter((n) => totalGpus(n, mask) >= gpuCount)
      .map((n) => ({ n, ready: Math.min(gpuCount, matchingGpus(n, mask, false, false)) }))
      .sort((a, b) => b.ready - a.ready || a.n.order - b.n.order)
      .slice(0, nodeCount);
    const entries = candidates.map(({ n, ready }) => ({ node: n, perGroup: holdGpus(n, mask, ready, n.gRes).perGroup }));
    active.set(res.id, { res, mask, gpuCount, entries, claimed: false });
  }
  return { active, decisions };
}

/** Gives a reservation's held GPUs back to free capacity (for its claiming task to use). */
export function releaseHold(h: ReservationHold): void {
  for (const { node, perGroup } of h.entries) {
    perGroup.forEach((k, g) => {
      node.gFree[g]! += k;
      node.gRes[g]! -= k;
    });
  }
}

/** Holds again what is still free of what was held (never more, so others' view only shrinks). */
export function reholdLeftover(h: ReservationHold): void {
  for (const e of h.entries) {
    e.perGroup = e.perGroup.map((k, g) => {
      const keep = Math.min(k, e.node.gFree[g]!);
      e.node.gFree[g]! -= keep;
      e.node.gRes[g]! += keep;
      return keep;
    });
  }
}

export function reservationHoldsView(active: Map<string, ReservationHold>): CapacityHold[] {
  const out: CapacityHold[] = [];
  for (const h of active.values()) {
    for (const e of h.entries) {
      const gpus = e.perGroup.reduce((s, k) => s + k, 0);
      if (gpus > 0) out.push({ worker_id: e.node.id, for_reservation: h.res.id, gpus, cpu: 0, memory_gb: 0 });
    }
  }
  return out;
}

export type Feasibility = { ok: true } | { ok: false; reason: string };

/**
 * Can the cluster ever hold this reservation? Checks totals on active workers (healthy GPUs only);
 * other reservations are not subtracted, they expire. The API answers 422 with `reason` when not.
 */
export function checkReservationFeasible(
  req: { gpu_count: number; gpu_type?: string; node_count?: number },
  workers: readonly SchedWorker[],
): Feasibility {
  const gpuCount = req.gpu_count;
  const nodeCount = req.node_count ?? 1;
  if (!Number.isInteger(gpuCount) || gpuCount < 1) return { ok: false, reason: 'gpu_count must be a whole number ≥ 1' };
  if (!Number.isInteger(nodeCount) || nodeCount < 1) return { ok: false, reason: 'node_count must be a whole number ≥ 1' };
  const active = workers.filter((w) => w && w.status === 'active');
  if (active.length === 0) return { ok: false, reason: 'no active workers' };
  const type = req.gpu_type || undefined;
  const healthy = (w: SchedWorker) => (Array.isArray(w.gpus) ? w.gpus : []).filter((g) => g && g.healthy === true && gpuTypeMatches(type, g.name)).length;
  const counts = active.map(healthy);
  if (type && counts.every((c) => c === 0)) return { ok: false, reason: `no worker has gpu_type ${type}` };
  const enough = counts.filter((c) => c >= gpuCount).length;
  if (enough < nodeCount) {
    const what = `${gpuCount} healthy ${type ?? 'GPU'}${gpuCount === 1 ? '' : 's'}`;
    return {
      ok: false,
      reason: `needs ${nodeCount} worker${nodeCount === 1 ? '' : 's'} with ${what}; ${enough} active worker${enough === 1 ? ' has' : 's have'} that many (largest: ${Math.max(...counts)})`,
    };
  }
  return { ok: true };
}

/**
 * "Why pending": human reasons for waiting tasks. Computing one scans the workers, so the
 * planner asks for detailed reasons only for the first `detailedReasons` waiting tasks (and
 * caches them per request shape); the rest say "queued: N tasks ahead".
 */
import { fitsTotal, fitsWithHolds, type Pool, type Req } from './pool.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "needs 2 nodes with 4 free H100" */
export function describeNeed(r: Req): string {
  const parts: string[] = [];
  if (r.gpu > 0) parts.push(`${r.gpu} free ${r.gpuType ?? (r.gpu === 1 ? 'GPU' : 'GPUs')}`);
  if (r.cpu > 0) parts.push(`${r.cpu} CPU cores`);
  if (r.mem > 0) parts.push(`${r.mem} GB memory`);
  if (parts.length === 0) parts.push(`a free ${r.kind === 0 ? 'batch' : 'service'} slot`);
  return `needs ${plural(r.nodes, 'node')} with ${parts.join(', ')}`;
}

export interface FitCounts {
  /** Workers where one node of the request fits in free capacity now. */
  now: number;
  /** … if the blocked head task's holds were free too. */
  withHead: number;
  /** … if every hold (head and reservations) were free too. */
  withAll: number;
  /** … in total capacity, ever. */
  total: number;
}

export function countFits(pool: Pool, r: Req): FitCounts {
  let now = 0, withHead = 0, withAll = 0, total = 0;
  // Only the workers with a matching GPU (all of them for a CPU-only request) can fit in total;
  // an indexed loop, as this runs for up to config.detailedReasons shapes a pass.
  const nodes = pool.nodesFor(r);
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (!fitsTotal(n, r)) continue;
    total++;
    if (!fitsWithHolds(n, r, true, true)) continue;
    withAll++;
    if (!fitsWithHolds(n, r, true, false)) continue;
    withHead++;
    if (fitsWithHolds(n, r, false, false)) now++;
  }
  return { now, withHead, withAll, total };
}

/** Reasons a request can never run on the current active workers; undefined when it could. */
export function impossibleReason(pool: Pool, r: Req, c: FitCounts): string | undefined {
  if (pool.nodes.length === 0) return 'no active workers';
  if (r.gpu > 0 && r.gpuType && !pool.typeExists(r.mask)) return `no worker has gpu_type ${r.gpuType}`;
  if (c.total < r.nodes) {
    return `${describeNeed(r)}; only ${plural(c.total, 'active worker')} ${c.total === 1 ? 'has' : 'have'} that much in total`;
  }
  return undefined;
}

/**
 * The reason for a waiting task. `head` is the blocked head task (if any, and not this task);
 * `ownHeadHold` is true for the head itself, whose holds count as its own capacity.
 */
export function waitingReason(pool: Pool, r: Req, head: { id: string; eff: number } | undefined, ownHeadHold = false): string {
  const c = countFits(pool, r);
  const impossible = impossibleReason(pool, r, c);
  if (impossible) return impossible;
  if (!ownHeadHold && head && c.withHead >= r.nodes && c.now < r.nodes) return `behind task ${head.id} (priority ${head.eff.toFixed(1)})`;
  if (c.withAll >= r.nodes && c.withHead < r.nodes) return 'reserved capacity';
  const fit = ownHeadHold ? c.withHead : c.now;
  return `${describeNeed(r)}; ${fit} ${fit === 1 ? 'fits' : 'fit'} now`;
}

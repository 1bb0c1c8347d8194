/**
 * The pending table a pass returns: typed arrays plus a reason per waiting position, turned into
 * objects only when read. Positions without a detailed reason say "queued: N tasks ahead".
 */
import type { PendingInfo, PendingTable, SchedTask } from './types.js';

export class LazyPending implements PendingTable {
  private index: Map<string, number> | undefined;

  constructor(
    private readonly queue: readonly SchedTask[],
    /** Queue index of each waiting task, in scheduling order. */
    private readonly waiting: Uint32Array,
    readonly size: number,
    private readonly reasons: (string | undefined)[],
    private readonly base: Float64Array,
    private readonly bonus: Float64Array,
    private readonly eff: Float64Array,
  ) {}

  at(pos: number): PendingInfo {
    const qi = this.waiting[pos]!;
    return {
      reason: this.reasons[pos] ?? `queued: ${pos} ${pos === 1 ? 'task' : 'tasks'} ahead`,
      priority_aged: { base: this.base[qi]!, age_bonus: this.bonus[qi]!, effective: this.eff[qi]! },
      position: pos,
    };
  }

  private positions(): Map<string, number> {
    if (!this.index) {
      this.index = new Map();
      for (let pos = 0; pos < this.size; pos++) {
        const id = this.queue[this.waiting[pos]!]!.id;
        if (!this.index.has(id)) this.index.set(id, pos);
      }
    }
    return this.index;
  }

  get(taskId: string): PendingInfo | undefined {
    const pos = this.positions().get(taskId);
    return pos === undefined ? undefined : this.at(pos);
  }

  has(taskId: string): boolean {
    return this.positions().has(taskId);
  }

  ids(): string[] {
    const out: string[] = new Array(this.size);
    for (let pos = 0; pos < this.size; pos++) out[pos] = this.queue[this.waiting[pos]!]!.id;
    return out;
  }

  *[Symbol.iterator](): Iterator<[string, PendingInfo]> {
    for (let pos = 0; pos < this.size; pos++) yield [this.queue[this.waiting[pos]!]!.id, this.at(pos)];
  }
}

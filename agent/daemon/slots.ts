/**
 * The agent's slot keeper: batch/service slots, CPU, memory and exclusive GPUs. Plain data in,
 * plain data out (Nomad's device reservations), so it is tested without any runtime. No GPU is
 * ever granted to two tasks, and unhealthy GPUs are never granted.
 */
import type { GpuInfo, SlotKind } from '../../shared/api-types.js';
import type { GpuGrant } from '../runtime/types.js';
import { gpuTypeMatches } from '../../shared/resources.js';

export interface SlotCapacity {
  batch_total: number;
  service_total: number;
  cpu_cores: number;
  memory_gb: number;
  gpus: GpuInfo[];
}

export interface SlotRequest {
  task_id: string;
  slot_kind: SlotKind;
  gpu: number;
  gpu_type?: string;
  cpu?: number;
  memory_gb?: number;
}

export interface Allocation {
  task_id: string;
  slot_kind: SlotKind;
  gpus: GpuGrant;
  cpu: number;
  memory_gb: number;
}

export type AllocateResult = { ok: true; allocation: Allocation } | { ok: false; reason: string };

/**
 * Default slot counts: one batch slot per GPU (at least one), two service slots. An explicit 0
 * is kept: `--batch-slots 0` makes a host that only runs services (Jupyter), and the reverse.
 */
export function defaultSlots(gpuCount: number, batch?: number, service?: number): { batch_total: number; service_total: number } {
  const b = batch !== undefined && Number.isFinite(batch) && batch >= 0 ? Math.floor(batch) : Math.max(1, gpuCount);
  const s = service !== undefined && Number.isFinite(service) && service >= 0 ? Math.floor(service) : 2;
  return { batch_total: b, service_total: s };
}

export class SlotKeeper {
  private capacity: SlotCapacity;
  private readonly allocations = new Map<string, Allocation>();

  constructor(capacity: SlotCapacity) {
    this.capacity = { ...capacity, gpus: [...capacity.gpus] };
  }

  /** A new probe reading (health may change); existing grants stay, they only stop new ones. */
  updateGpus(gpus: GpuInfo[]): void {
    this.capacity = { ...this.capacity, gpus: [...gpus] };
  }

  /** Re-installs grants persisted before a restart (trusted: they were granted by this keeper). */
  restore(allocation: Allocation): void {
    this.allocations.set(allocation.task_id, allocation);
  }

  get(taskId: string): Allocation | undefined {
    return this.allocations.get(taskId);
  }

  all(): Allocation[] {
    return [...this.allocations.values()];
  }

  usage(): { batch: number; service: number; cpu: number; memory_gb: number; gpu_uuids: string[] } {
    let batch = 0;
    let service = 0;
    let cpu = 0;
    let memory = 0;
    const uuids: string[] = [];
    for (const a of this.allocations.values()) {
      if (a.slot_kind === 'service') service++;
      else batch++;
      cpu += a.cpu;
      memory += a.memory_gb;
      uuids.push(...a.gpus.uuids);
    }
    return { batch, service, cpu, memory_gb: memory, gpu_uuids: uuids };
  }

  allocate(req: SlotRequest): AllocateResult {
    if (this.allocations.has(req.task_id)) return { ok: true, allocation: this.allocations.get(req.task_id)! };
    const gpuWanted = Math.max(0, Math.floor(req.gpu || 0));
    const cpu = Math.max(0, req.cpu ?? 0);
    const mem = Math.max(0, req.memory_gb ?? 0);
    const use = this.usage();
    if (req.slot_kind === 'service') {
      if (use.service >= this.capacity.service_total) return { ok: false, reason: `no free service slot (${this.capacity.service_total} in use)` };
    } else if (use.batch >= this.capacity.batch_total) {
      return { ok: false, reason: `no free batch slot (${this.capacity.batch_total} in use)` };
    }
    if (cpu > 0 && use.cpu + cpu > this.capacity.cpu_cores) return { ok: false, reason: `not enough CPU: ${cpu} requested, ${this.capacity.cpu_cores - use.cpu} free` };
    if (mem > 0 && use.memory_gb + mem > this.capacity.memory_gb) return { ok: false, reason: `not enough memory: ${mem} GB requested, ${this.capacity.memory_gb - use.memory_gb} GB free` };
    const taken = new Set(use.gpu_uuids);
    const free = this.capacity.gpus.filter((g) => g.healthy && !taken.has(g.uuid) && gpuTypeMatches(req.gpu_type, g.name));
    if (free.length < gpuWanted) {
      return { ok: false, reason: `not enough GPUs: ${gpuWanted}${req.gpu_type ? ` × ${req.gpu_type}` : ''} requested, ${free.length} free and healthy` };
    }
    const chosen = free.slice(0, gpuWanted);
    const allocation: Allocation = {
      task_id: req.task_id,
      slot_kind: req.slot_kind === 'service' ? 'service' : 'batch',
      gpus: { indices: chosen.map((g) => g.index), uuids: chosen.map((g) => g.uuid) },
      cpu,
      memory_gb: mem,
    };
    this.allocations.set(req.task_id, allocation);
    return { ok: true, allocation };
  }

  release(taskId: string): void {
    this.allocations.delete(taskId);
  }
}

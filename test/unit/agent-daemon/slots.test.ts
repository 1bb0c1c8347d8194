import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlotKeeper, defaultSlots } from '../../../agent/daemon/slots.js';
import type { GpuInfo } from '../../../shared/api-types.js';

const gpu = (i: number, healthy = true, name = 'NVIDIA A100-SXM4-80GB'): GpuInfo => ({ index: i, uuid: `GPU-${i}`, name, memory_total_mb: 81920, healthy });

describe('SlotKeeper', () => {
  test('grants disjoint GPUs and refuses when none are free', () => {
    const k = new SlotKeeper({ batch_total: 4, service_total: 2, cpu_cores: 16, memory_gb: 64, gpus: [gpu(0), gpu(1), gpu(2)] });
    const a = k.allocate({ task_id: 'a', slot_kind: 'batch', gpu: 2 });
    const b = k.allocate({ task_id: 'b', slot_kind: 'batch', gpu: 2 });
    assert.ok(a.ok);
    assert.deepEqual(a.allocation.gpus.indices, [0, 1]);
    assert.equal(b.ok, false);
    assert.match((b as { reason: string }).reason, /not enough GPUs/);
    k.release('a');
    assert.ok(k.allocate({ task_id: 'b', slot_kind: 'batch', gpu: 2 }).ok);
  });

  test('never grants an unhealthy GPU or a GPU of the wrong type', () => {
    const k = new SlotKeeper({ batch_total: 4, service_total: 0, cpu_cores: 4, memory_gb: 8, gpus: [gpu(0, false), gpu(1, true, 'NVIDIA H100 80GB HBM3'), gpu(2)] });
    const h = k.allocate({ task_id: 'h', slot_kind: 'batch', gpu: 1, gpu_type: 'h100' });
    assert.ok(h.ok && h.allocation.gpus.uuids[0] === 'GPU-1');
    assert.equal(k.allocate({ task_id: 'x', slot_kind: 'batch', gpu: 2 }).ok, false);
    const y = k.allocate({ task_id: 'y', slot_kind: 'batch', gpu: 1 });
    assert.ok(y.ok && y.allocation.gpus.uuids[0] === 'GPU-2');
  });

  test('slot, CPU and memory limits', () => {
    const k = new SlotKeeper({ batch_total: 1, service_total: 1, cpu_cores: 4, memory_gb: 8, gpus: [] });
    assert.ok(k.allocate({ task_id: 'a', slot_kind: 'batch', gpu: 0, cpu: 3 }).ok);
    assert.equal(k.allocate({ task_id: 'b', slot_kind: 'batch', gpu: 0 }).ok, false);
    assert.equal(k.allocate({ task_id: 'c', slot_kind: 'service', gpu: 0, cpu: 2 }).ok, false);
    assert.equal(k.allocate({ task_id: 'c', slot_kind: 'service', gpu: 0, memory_gb: 9 }).ok, false);
    assert.ok(k.allocate({ task_id: 'c', slot_kind: 'service', gpu: 0, cpu: 1, memory_gb: 8 }).ok);
  });

  test('defaults: one batch slot per GPU (at least one), two service slots', () => {
    assert.deepEqual(defaultSlots(0), { batch_total: 1, service_total: 2 });
    assert.deepEqual(defaultSlots(8), { batch_total: 8, service_total: 2 });
    assert.deepEqual(defaultSlots(8, 3, 0), { batch_total: 3, service_total: 0 });
    assert.deepEqual(defaultSlots(2, -5, NaN), { batch_total: 2, service_total: 2 }, 'nonsense falls back to the defaults');
    assert.deepEqual(defaultSlots(4, 0, 3), { batch_total: 0, service_total: 3 }, 'a services-only host');
  });

  test('property: any sequence of allocate/release never double-assigns a GPU or exceeds capacity', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('alloc' as const), id: fc.integer({ min: 0, max: 9 }), gpu: fc.integer({ min: 0, max: 4 }), service: fc.boolean(), cpu: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('release' as const), id: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ kind: fc.constant('health' as const), bad: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.array(op, { maxLength: 60 }), (nGpu, ops) => {
        let gpus = Array.from({ length: nGpu }, (_, i) => gpu(i));
        const k = new SlotKeeper({ batch_total: 3, service_total: 2, cpu_cores: 8, memory_gb: 32, gpus });
        const healthyAtGrant = new Set(gpus.map((g) => g.uuid));
        for (const o of ops) {
          if (o.kind === 'alloc') {
            const before = k.get(`t${o.id}`);
            const r = k.allocate({ task_id: `t${o.id}`, slot_kind: o.service ? 'service' : 'batch', gpu: o.gpu, cpu: o.cpu });
            if (r.ok && !before) {
              assert.equal(r.allocation.gpus.uuids.length, o.gpu);
              for (const u of r.allocation.gpus.uuids) assert.ok(healthyAtGrant.has(u), 'granted an unhealthy GPU');
            }
          } else if (o.kind === 'release') k.release(`t${o.id}`);
          else {
            gpus = gpus.map((g) => ({ ...g, healthy: g.index !== o.bad }));
            healthyAtGrant.clear();
            for (const g of gpus) if (g.healthy) healthyAtGrant.add(g.uuid);
            k.updateGpus(gpus);
          }
          const u = k.usage();
          assert.equal(new Set(u.gpu_uuids).size, u.gpu_uuids.length, 'a GPU was granted twice');
          assert.ok(u.batch <= 3 && u.service <= 2 && u.cpu <= 8);
        }
      }),
      { numRuns: 300 },
    );
  });
});

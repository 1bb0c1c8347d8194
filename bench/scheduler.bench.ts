/**
 * One scheduling pass over 100k queued tasks × 1,000 workers (mixed GPU types, some busy).
 * Goal (issue 4): ≤ 50 ms. Prints a markdown section; median of several runs after warm-up.
 * Run: node --import tsx bench/scheduler.bench.ts
 */
import { plan } from '../control/scheduler/plan.js';
import type { SchedTask, SchedWorker } from '../control/scheduler/types.js';

const TASKS = Number(process.env.SCHED_BENCH_TASKS ?? 100_000);
const WORKERS = Number(process.env.SCHED_BENCH_WORKERS ?? 1_000);
const RUNS = 9;
/** Passes before measuring: V8 is still optimising the planner for the first ~8 (node --trace-opt). */
const WARMUP = 10;

// Deterministic PRNG so every run measures the same cluster.
let seed = 42;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const MODELS = [
  { name: 'NVIDIA H100 80GB HBM3', count: 8 },
  { name: 'NVIDIA A100-SXM4-80GB', count: 8 },
  { name: 'NVIDIA A100-PCIE-40GB', count: 4 },
  { name: 'NVIDIA L4', count: 2 },
  { name: '', count: 0 },
];

function workers(): SchedWorker[] {
  return Array.from({ length: WORKERS }, (_, i) => {
    const m = pick(MODELS);
    const busyGpus = rand() < 0.5 ? Math.floor(rand() * (m.count + 1)) : 0; // about half the workers have work on them
    const gpus = Array.from({ length: m.count }, (_, g) => ({ index: g, name: m.name, healthy: rand() > 0.01, free: g >= busyGpus }));
    const cpu = 64;
    const mem = 512;
    return {
      id: `w-${i}`,
      status: rand() < 0.97 ? 'active' : 'draining',
      gpus,
      cpu_total: cpu,
      cpu_free: cpu - busyGpus * 4,
      memory_total_gb: mem,
      memory_free_gb: mem - busyGpus * 32,
      batch_total: 8,
      batch_free: 8 - Math.min(8, busyGpus),
      service_total: 2,
      service_free: 2,
    } satisfies SchedWorker;
  });
}

function queue(now: number): SchedTask[] {
  return Array.from({ length: TASKS }, (_, i) => ({
    id: `t-${i}`,
    user_id: `u-${i % 50}`,
    priority: 1 + Math.floor(rand() * 10),
    queued_at: now - Math.floor(rand() * 120 * 60_000),
    created_seq: i,
    gpu: pick([0, 1, 1, 1, 2, 4, 8]),
    gpu_type: pick([undefined, undefined, 'H100', 'A100', 'a100 80gb', 'L4', 'B200']),
    cpu: pick([1, 2, 4, 8]),
    memory_gb: pick([4, 8, 16, 32, 64]),
    node_count: rand() < 0.05 ? pick([2, 4]) : 1,
    slot_kind: rand() < 0.05 ? 'service' : 'batch',
  }));
}

const now = Date.UTC(2025, 0, 1);
const w = workers();
const q = queue(now);
const times: number[] = [];
const cpuTimes: number[] = []; // on-CPU time of the pass: less sensitive to other load on a shared machine
let last: ReturnType<typeof plan> | undefined;
for (let r = 0; r < RUNS + WARMUP; r++) {
  // A major GC before each pass so that garbage of earlier passes is not collected inside this
  // one. Not plain gc(): that one is memory-reducing and throws away the optimised code, so every
  // pass ran half-interpreted and re-optimised ~25 functions on helper threads (CPU time ≫ wall).
  (globalThis as { gc?: (o?: { type: 'major' }) => void }).gc?.({ type: 'major' });
  // Sweeping continues on helper threads; let it finish so the timed window (and its CPU time,
  // which counts every thread) measures the pass, not the bench's own collection.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  last = plan({ now: now + r, queue: q, workers: w });
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (r >= WARMUP) {
    times.push(ms);
    cpuTimes.push((c.user + c.system) / 1000);
  }
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
cpuTimes.sort((a, b) => a - b);
const cpuMedian = cpuTimes[Math.floor(cpuTimes.length / 2)]!;
// Reading every pending reason (what control does to update tasks) is measured apart.
const t1 = performance.now();
let chars = 0;
for (const [, p] of last!.pending) chars += p.reason.length;
const readMs = performance.now() - t1;

console.log(`## Scheduler: one planning pass\n`);
console.log(`${TASKS.toLocaleString('en')} queued tasks × ${WORKERS.toLocaleString('en')} workers (5 GPU models, ~half busy, 3% draining, 5% gangs of 2–4 nodes).\n`);
console.log(`| runs | median | min | max | median CPU time | goal | started | pending | reading all pending reasons |`);
console.log(`|---|---|---|---|---|---|---|---|---|`);
console.log(
  `| ${RUNS} | ${median.toFixed(1)} ms | ${times[0]!.toFixed(1)} ms | ${times.at(-1)!.toFixed(1)} ms | ${cpuMedian.toFixed(1)} ms | ≤ 50 ms | ${last!.starts.length} | ${last!.pending.size} | ${readMs.toFixed(1)} ms (${chars > 0 ? 'ok' : 'empty'}) |\n`,
);
if (median > 50) console.log(`**Over the 50 ms goal on this machine.**\n`);

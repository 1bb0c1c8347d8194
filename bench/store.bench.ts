/**
 * Store benchmark: durable commits/s with 32 concurrent committers at 0 and 100k stored tasks,
 * then reopen time and RSS at 100k tasks (each reopen in a fresh child process, so RSS is the
 * store's alone). Run: `node --import tsx bench/store.bench.ts` (prints a markdown table).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Task } from '../shared/api-types.js';
import { openJournalStore } from '../control/store/journal-store.js';
import type { Mutation, Store } from '../control/store/types.js';

const CONCURRENCY = 32;
const STORED = Number(process.env.BENCH_STORED ?? 100_000);
const MEASURED_COMMITS = Number(process.env.BENCH_COMMITS ?? 20_000);

function task(n: number): Task {
  const now = new Date(Date.UTC(2030, 0, 1) + n * 1000).toISOString();
  return {
    id: `task-${n.toString(36).padStart(8, '0')}-${'a1b2c3d4'.repeat(2)}`,
    job_name: `train-resnet50-sweep-${n % 1000}`,
    status: 'queued',
    priority: n % 10,
    created_at: now,
    entrypoint: 'python train.py',
    args: `--lr 0.00${n % 9} --epochs 90 --batch-size 256 --data /datasets/imagenet`,
    snapshot_id: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    datasets: ['imagenet-1k'],
    cpu: 8,
    memory_gb: 64,
    gpu: 2,
    gpu_type: 'H100',
    image: 'ghcr.io/example/train:2030.01',
    metadata: { team: 'vision', sweep: `s${n % 50}` },
    user_id: `user-${n % 40}`,
    retry_count: 0,
    max_retries: 3,
    node_count: 1,
    slot_kind: 'batch',
    epoch: 0,
    queued_at: now,
    updated_at: now,
  };
}

const createTask = (store: Store, n: number) => {
  const t = task(n);
  return store.commit([{ op: 'put', coll: 'tasks', value: t }], [
    { event_type: 'job_queued', success: true, user_id: t.user_id, resource: t.id, action: 'create' },
  ]);
};

/** 32 committers, each waiting for its own durable ack before the next, like 32 HTTP clients. */
async function measureCommits(store: Store, start: number, total: number): Promise<number> {
  let next = start;
  const end = start + total;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < end) await createTask(store, next++);
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

async function prefill(store: Store, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n += 1000) {
    const muts: Mutation[] = [];
    for (let k = n; k < Math.min(to, n + 1000); k++) muts.push({ op: 'put', coll: 'tasks', value: task(k) });
    await store.commit(muts);
  }
}

/** Child mode: open the store, report time and RSS. */
async function reopenChild(dir: string): Promise<void> {
  const t0 = performance.now();
  const store = await openJournalStore({ dataDir: dir });
  const ms = performance.now() - t0;
  (globalThis as { gc?: () => void }).gc?.();
  const rss = process.memoryUsage().rss;
  const tasks = store.count('tasks');
  await store.close();
  process.stdout.write(JSON.stringify({ ms, rss, tasks }) + '\n');
}

/** Child mode: the commit measurements; exits without close(), leaving a journal to replay. */
async function fillChild(dir: string): Promise<void> {
  const store = await openJournalStore({ dataDir: dir });
  const empty = await measureCommits(store, 0, MEASURED_COMMITS);
  await prefill(store, MEASURED_COMMITS, STORED);
  await store.snapshot();
  const full = await measureCommits(store, STORED, MEASURED_COMMITS);
  process.stdout.write(JSON.stringify({ empty, full }) + '\n');
  process.exit(0); // like a crash: no closing snapshot
}

function child<T>(mode: string, dir: string): T {
  const self = fileURLToPath(import.meta.url);
  const pre = self.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const r = spawnSync(process.execPath, ['--expose-gc', ...pre, self, mode, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${mode} child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

type Reopen = { ms: number; rss: number; tasks: number };

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-bench-'));
  try {
    const { empty, full } = child<{ empty: number; full: number }>('--fill', dir);
    const crashReopen = child<Reopen>('--reopen', dir); // snapshot + journal replay; closes (snapshot)
    const cleanReopen = child<Reopen>('--reopen', dir); // snapshot only
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
    const rows = [
      ['durable task creations/s, 32 concurrent, 0 stored', `${empty.toFixed(0)}/s`, '≥ 2,000/s'],
      [`durable task creations/s, 32 concurrent, ${STORED / 1000}k stored`, `${full.toFixed(0)}/s`, '≥ 2,000/s'],
      [`reopen after kill, ${crashReopen.tasks} tasks (snapshot + journal replay)`, `${(crashReopen.ms / 1000).toFixed(2)} s`, '< 5 s'],
      ['RSS after that reopen', mb(crashReopen.rss), '< 500 MB'],
      [`reopen after clean close, ${cleanReopen.tasks} tasks (snapshot only)`, `${(cleanReopen.ms / 1000).toFixed(2)} s`, '< 5 s'],
      ['RSS after that reopen', mb(cleanReopen.rss), '< 500 MB'],
    ];
    console.log(`| store benchmark (Node ${process.version}) | result | goal |\n|---|---|---|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const [mode, arg] = [process.argv[2], process.argv[3]];
if (mode === '--reopen' && arg) await reopenChild(arg);
else if (mode === '--fill' && arg) await fillChild(arg);
else await main();

/**
 * Task retention benchmark: archiving 100k finished tasks in batches (ms per batch, the longest
 * event-loop stall while it runs), control's store reopen and RSS before and after, and the
 * archive index at 1M archived tasks (start-up scan time, index bytes per task, lookup latency).
 * Each reopen runs in a fresh child so its RSS is its own. Run: `npm run build && node --expose-gc
 * dist/bench/archive.bench.js` (prints a markdown table). BENCH_ARCHIVED / BENCH_INDEXED resize it.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Task } from '../shared/api-types.js';
import { DAY_MS, startArchiveSweeper } from '../control/store/archive-sweep.js';
import { openJournalStore } from '../control/store/journal-store.js';
import { ARCHIVE_DIR_NAME, archiveLine, openTaskArchive } from '../control/store/task-archive.js';
import type { Mutation } from '../control/store/types.js';

const ARCHIVED = Number(process.env.BENCH_ARCHIVED ?? 100_000);
const LIVE = Number(process.env.BENCH_LIVE ?? 20_000);
const INDEXED = Number(process.env.BENCH_INDEXED ?? 1_000_000);
const BATCH = 1000;
const NOW = Date.UTC(2030, 6, 1);

/** The shape store.bench.ts uses (about 700 bytes of JSON), finished `agoDays` before NOW. */
function task(n: number, agoDays: number): Task {
  const at = new Date(NOW - agoDays * DAY_MS + n * 10).toISOString();
  return {
    id: `${n.toString(16).padStart(8, '0')}-7c1e-4b7a-9f00-${'a1b2c3d4e5f6'}`,
    job_name: `train-resnet50-sweep-${n % 1000}`,
    status: n % 7 === 0 ? 'failed' : 'completed',
    priority: n % 10,
    created_at: at,
    entrypoint: 'python train.py',
    args: `--lr 0.00${n % 9} --epochs 90 --batch-size 256 --data /datasets/imagenet`,
    snapshot_id: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    datasets: ['imagenet-1k'],
    cpu: 8, memory_gb: 64, gpu: 2, gpu_type: 'H100',
    image: 'ghcr.io/example/train:2030.01',
    metadata: { team: 'vision', sweep: `s${n % 50}` },
    user_id: `user-${n % 40}`,
    retry_count: 0, max_retries: 3, node_count: 1, slot_kind: 'batch', epoch: 0,
    queued_at: at, started_at: at, ended_at: at, updated_at: at, exit_code: n % 7 === 0 ? 1 : 0,
  };
}

const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function fill(dir: string): Promise<void> {
  const store = await openJournalStore({ dataDir: dir });
  for (let n = 0; n < ARCHIVED + LIVE; n += 1000) {
    const muts: Mutation[] = [];
    // The first ARCHIVED ended 60 days ago, the rest yesterday (inside a 30-day retention).
    for (let k = n; k < Math.min(ARCHIVED + LIVE, n + 1000); k++) muts.push({ op: 'put', coll: 'tasks', value: task(k, k < ARCHIVED ? 60 : 1) });
    await store.commit(muts);
  }
  await store.close();
}

/** Child: open the store and the archive like control does; time, RSS, live tasks, archived lines. */
async function reopenChild(dir: string): Promise<void> {
  const t0 = performance.now();
  const store = await openJournalStore({ dataDir: dir });
  const archive = await openTaskArchive({ dataDir: dir });
  const ms = performance.now() - t0;
  gc();
  const out = { ms, rss: process.memoryUsage().rss, live: store.count('tasks'), archived: archive.size };
  await archive.close();
  await store.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

/** Child: the sweep of ARCHIVED tasks in batches of BATCH. */
async function sweepChild(dir: string): Promise<void> {
  const store = await openJournalStore({ dataDir: dir, clock: { now: () => NOW } });
  const archive = await openTaskArchive({ dataDir: dir });
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const batches: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  const sweeper = startArchiveSweeper({ store, archive, retentionDays: 30, clock: { now: () => NOW }, intervalMs: 3600_000, batchSize: BATCH, schedule: false, onBatch: (b) => batches.push(b.ms) });
  const archived = await sweeper.runOnce();
  const total = performance.now() - t0;
  h.disable();
  await sweeper.stop();
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  batches.sort((a, b) => a - b);
  const out = {
    archived, total, batches: batches.length,
    mean: batches.reduce((a, b) => a + b, 0) / batches.length,
    p50: batches[Math.floor(batches.length / 2)]!, max: batches[batches.length - 1]!,
    loopMax: h.max / 1e6, loopP99: h.percentile(99) / 1e6, heapBefore, heapAfter, live: store.count('tasks'),
  };
  await archive.close();
  await store.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

/** Writes INDEXED archive lines straight into 12 month files (what years of sweeps leave). */
async function writeBigArchive(dir: string): Promise<number> {
  const adir = join(dir, ARCHIVE_DIR_NAME);
  await mkdir(adir, { recursive: true });
  const perFile = Math.ceil(INDEXED / 12);
  let bytes = 0;
  for (let f = 0; f < 12; f++) {
    const fh = await open(join(adir, `tasks-2029-${String(f + 1).padStart(2, '0')}.jsonl`), 'w');
    for (let n = f * perFile; n < Math.min(INDEXED, (f + 1) * perFile); n += 5000) {
      let chunk = '';
      for (let k = n; k < Math.min(INDEXED, (f + 1) * perFile, n + 5000); k++) chunk += archiveLine(task(k, 400));
      await fh.write(chunk);
    }
    bytes += (await fh.stat()).size;
    await fh.close();
  }
  return bytes;
}

/** Child: index the big archive; time, RSS, index bytes, lookup latency. */
async function indexChild(dir: string): Promise<void> {
  gc();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const archive = await openTaskArchive({ dataDir: dir });
  const ms = performance.now() - t0;
  gc();
  const rss = process.memoryUsage().rss - rss0;
  const ids = Array.from({ length: 2000 }, (_, i) => task((i * 7919) % INDEXED, 400).id);
  let found = 0;
  const t1 = performance.now();
  for (const id of ids) if (archive.get(id)?.id === id) found++;
  const getUs = ((performance.now() - t1) * 1000) / ids.length;
  const out = { ms, size: archive.size, indexBytes: archive.indexBytes, rss, getUs, found };
  await archive.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

function child<T>(mode: string, dir: string): T {
  const self = fileURLToPath(import.meta.url);
  const pre = self.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const r = spawnSync(process.execPath, ['--expose-gc', ...pre, self, mode, dir], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${mode} child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

type Reopen = { ms: number; rss: number; live: number; archived: number };
type Sweep = { archived: number; total: number; batches: number; mean: number; p50: number; max: number; loopMax: number; loopP99: number; heapBefore: number; heapAfter: number; live: number };
type Indexed = { ms: number; size: number; indexBytes: number; rss: number; getUs: number; found: number };

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-archive-bench-'));
  const big = await mkdtemp(join(tmpdir(), 'fetchml-archive-big-'));
  try {
    await fill(dir);
    const before = child<Reopen>('--reopen', dir);
    const sweep = child<Sweep>('--sweep', dir);
    const after = child<Reopen>('--reopen', dir);
    const archiveBytes = (await stat(join(dir, ARCHIVE_DIR_NAME, 'tasks-2030-05.jsonl'))).size;
    const bigBytes = await writeBigArchive(big);
    const idx = child<Indexed>('--index', big);
    if (idx.found !== 2000) throw new Error(`index lookups found ${idx.found} of 2000`);
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
    const rows = [
      [`sweep: ${sweep.archived} tasks archived of ${ARCHIVED + LIVE}, batches of ${BATCH}`, `${(sweep.total / 1000).toFixed(2)} s (${sweep.batches} batches)`],
      ['ms per batch (archive write + fsync + store commit): mean / p50 / max', `${sweep.mean.toFixed(1)} / ${sweep.p50.toFixed(1)} / ${sweep.max.toFixed(1)} ms`],
      ['longest event-loop stall during the sweep (p99 / max)', `${sweep.loopP99.toFixed(1)} / ${sweep.loopMax.toFixed(1)} ms`],
      ['JS heap before → after the sweep', `${mb(sweep.heapBefore)} → ${mb(sweep.heapAfter)}`],
      ['archive file size', `${mb(archiveBytes)} (${(archiveBytes / sweep.archived).toFixed(0)} B/task)`],
      [`control store reopen, ${before.live} live tasks (nothing archived)`, `${(before.ms / 1000).toFixed(2)} s, RSS ${mb(before.rss)}`],
      [`control store reopen, ${after.live} live + ${after.archived} archived`, `${(after.ms / 1000).toFixed(2)} s, RSS ${mb(after.rss)}`],
      [`archive index start-up scan, ${idx.size.toLocaleString('en')} archived tasks (${mb(bigBytes)} in 12 files)`, `${(idx.ms / 1000).toFixed(2)} s`],
      ['index memory (typed arrays) / RSS growth', `${mb(idx.indexBytes)} (${(idx.indexBytes / idx.size).toFixed(0)} B/task) / ${mb(idx.rss)}`],
      ['GET of an archived task: index lookup + one line read + parse', `${idx.getUs.toFixed(0)} µs`],
    ];
    console.log(`| archive benchmark (Node ${process.version}) | result |\n|---|---|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(big, { recursive: true, force: true });
  }
}

const [mode, arg] = [process.argv[2], process.argv[3]];
if (mode === '--reopen' && arg) await reopenChild(arg);
else if (mode === '--sweep' && arg) await sweepChild(arg);
else if (mode === '--index' && arg) await indexChild(arg);
else await main();

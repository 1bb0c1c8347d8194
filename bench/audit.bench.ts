/**
 * Audit memory benchmark: an audit.jsonl of 1M events (four per task, the shape control writes),
 * loaded the old way (every line parsed into memory: loadAuditFile) and the new way (index for all,
 * the newest 100k parsed: openFileAuditHistory). Start-up time, JS heap and RSS of each (a fresh
 * child process each), and query latency for filtered pages deep in the log. Run: `npm run build &&
 * node --expose-gc dist/bench/audit.bench.js`. BENCH_AUDIT_EVENTS / BENCH_AUDIT_WINDOW resize it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEventDraft } from '../shared/api-types.js';
import { loadAuditFile } from '../control/audit/audit-file.js';
import { chainAuditEvent, GENESIS_HEAD, type ChainHead } from '../control/audit/chain.js';
import { openFileAuditHistory } from '../control/audit/file-audit-history.js';
import { queryAuditEvents } from '../control/audit/query.js';
import type { AuditQuery } from '../control/store/types.js';

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 1_000_000);
const WINDOW = Number(process.env.BENCH_AUDIT_WINDOW ?? 100_000);
const T0 = Date.UTC(2030, 0, 1);
const TYPES = ['job_queued', 'job_started', 'job_completed', 'auth_attempt'] as const;

function draft(n: number): AuditEventDraft {
  const task = Math.floor(n / 4);
  const id = `${task.toString(16).padStart(8, '0')}-7c1e-4b7a-9f00-a1b2c3d4e5f6`;
  const type = TYPES[n % 4]!;
  return {
    event_type: type,
    user_id: `user-${task % 40}`,
    resource: type === 'auth_attempt' ? '/v1/tasks' : `task:${id}`,
    action: type === 'auth_attempt' ? 'authenticate' : 'transition',
    success: type !== 'auth_attempt',
    ip_address: `10.0.${task % 200}.${n % 250}`,
    timestamp: new Date(T0 + n * 1000).toISOString(),
    metadata: { job_name: `train-resnet50-sweep-${task % 1000}`, priority: task % 10 },
  };
}

async function writeLog(file: string): Promise<void> {
  const fh = await open(file, 'w');
  let head: ChainHead = GENESIS_HEAD;
  for (let n = 0; n < EVENTS; n += 10_000) {
    let chunk = '';
    for (let k = n; k < Math.min(EVENTS, n + 10_000); k++) {
      const e = chainAuditEvent(draft(k), head, '');
      head = e;
      chunk += JSON.stringify(e) + '\n';
    }
    await fh.write(chunk);
  }
  await fh.close();
}

const gc = () => (globalThis as { gc?: () => void }).gc?.();

/** Each query's page sits half-way through its matches (offset = total/2): deep in the log. */
const QUERIES: Array<[string, AuditQuery]> = [
  ['unfiltered, 100', { limit: 100, offset: 0 }],
  ['user_id + event_type, 50', { user_id: 'user-7', event_type: 'job_completed', limit: 50, offset: 0 }],
  ['from/to (5% of the log), 100', { from: new Date(T0 + EVENTS * 250).toISOString(), to: new Date(T0 + EVENTS * 300).toISOString(), limit: 100, offset: 0 }],
];

type Result = { ms: number; heap: number; rss: number; count: number; indexBytes?: number; queries: number[]; totals: number[] };

/** Child: load one way, then time the queries (mean of 20). */
async function loadChild(mode: string, file: string): Promise<void> {
  gc();
  const t0 = performance.now();
  let query: (q: AuditQuery) => { total: number; events: unknown[] };
  let count: number;
  let indexBytes: number | undefined;
  if (mode === '--old') {
    const log = await loadAuditFile(file);
    count = log.events.length;
    query = (q) => queryAuditEvents(log.events, q);
  } else {
    const { history } = await openFileAuditHistory(file, WINDOW);
    count = history.count;
    indexBytes = history.index.bytes;
    query = (q) => history.query(q);
  }
  const ms = performance.now() - t0;
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  const queries: number[] = [];
  const totals: number[] = [];
  for (const [, base] of QUERIES) {
    const total = query({ ...base, limit: 0 }).total;
    const q = { ...base, offset: Math.floor(total / 2) };
    totals.push(total);
    const t1 = performance.now();
    for (let i = 0; i < 20; i++) query(q);
    queries.push((performance.now() - t1) / 20);
  }
  const out: Result = { ms, heap: heapUsed, rss, count, ...(indexBytes === undefined ? {} : { indexBytes }), queries, totals };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function child(mode: string, file: string): Result {
  const self = fileURLToPath(import.meta.url);
  const pre = self.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', ...pre, self, mode, file], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${mode} child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-audit-bench-'));
  try {
    const file = join(dir, 'audit.jsonl');
    await writeLog(file);
    const bytes = (await stat(file)).size;
    const oldR = child('--old', file);
    const newR = child('--new', file);
    if (oldR.count !== EVENTS || newR.count !== EVENTS) throw new Error(`loaded ${oldR.count} / ${newR.count} of ${EVENTS}`);
    if (oldR.totals.join() !== newR.totals.join()) throw new Error(`totals differ: ${oldR.totals} vs ${newR.totals}`);
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
    const rows = [
      [`audit.jsonl: ${EVENTS.toLocaleString('en')} events`, `${mb(bytes)} (${(bytes / EVENTS).toFixed(0)} B/event)`],
      ['start-up load: old (all parsed) / new (index + newest ' + WINDOW.toLocaleString('en') + ' parsed)', `${(oldR.ms / 1000).toFixed(2)} s / ${(newR.ms / 1000).toFixed(2)} s`],
      ['JS heap after load: old / new', `${mb(oldR.heap)} / ${mb(newR.heap)}`],
      ['RSS after load: old / new', `${mb(oldR.rss)} / ${mb(newR.rss)}`],
      ['index typed arrays (capacity)', `${mb(newR.indexBytes ?? 0)} (${((newR.indexBytes ?? 0) / EVENTS).toFixed(1)} B/event)`],
      ...QUERIES.map(([name], i) => [`query page at offset total/2: ${name} (total ${newR.totals[i]!.toLocaleString('en')}): old / new`, `${oldR.queries[i]!.toFixed(2)} ms / ${newR.queries[i]!.toFixed(2)} ms`]),
    ];
    console.log(`| audit memory benchmark (Node ${process.version}) | result |\n|---|---|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const [mode, arg] = [process.argv[2], process.argv[3]];
if ((mode === '--old' || mode === '--new') && arg) await loadChild(mode, arg);
else await main();

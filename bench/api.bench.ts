/**
 * Durable task creations per second through the HTTP API: 32 concurrent clients (undici) against a
 * real control process, with 0 and with 100k tasks already stored. Goal (issue 2): ≥ 2,000/s at 100k.
 * Run: node --import tsx bench/api.bench.ts   (API_BENCH_SECONDS, API_BENCH_PRELOAD to change)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { preloadTasks } from './preload.js';

const SECONDS = Number(process.env.API_BENCH_SECONDS ?? 5);
const PRELOAD = Number(process.env.API_BENCH_PRELOAD ?? 100_000);
const CLIENTS = 32;
const ADMIN = 'bench-admin-key-0123456789abcdef0123';

const tsFixture = fileURLToPath(new URL('../test/fixtures/run-control.ts', import.meta.url));
const jsFixture = fileURLToPath(new URL('../test/fixtures/run-control.js', import.meta.url));

const preload = (dataDir: string, n: number) =>
  preloadTasks(dataDir, n, (j) => ({ status: j % 3 === 0 ? 'completed' : 'queued', args: '--epochs 10 --lr 0.001', metadata: { team: 'bench' } }));

function startControl(dataDir: string) {
  // Compiled (npm run bench) or TypeScript through tsx.
  const prof = process.env.API_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.API_BENCH_CPU_PROF}`] : [];
  const args = [...prof, ...(import.meta.url.endsWith('.js') && existsSync(jsFixture) ? [jsFixture, dataDir] : ['--import', 'tsx', tsFixture, dataDir])];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, FETCHML_ADMIN_KEY: ADMIN, FETCHML_RATE_LIMIT_RPS: '1000000', FETCHML_RATE_LIMIT_BURST: '1000000', FETCHML_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started = Date.now();
  const url = new Promise<{ url: string; ms: number }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, ms: Date.now() - started });
    });
    child.once('exit', (code) => reject(new Error(`control exited ${code}`)));
  });
  return { child, url };
}

async function run(preloaded: number) {
  const dataDir = await mkdtemp(join(tmpdir(), 'fetchml-api-bench-'));
  try {
    if (preloaded) await preload(dataDir, preloaded);
    const c = startControl(dataDir);
    const { url, ms } = await c.url;
    const dispatcher = new Agent({ connections: CLIENTS, pipelining: 1 });
    const latencies: number[] = [];
    let errors = 0;
    const deadline = Date.now() + SECONDS * 1000;
    const client = async (n: number) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const t0 = performance.now();
        const r = await request(`${url}/v1/tasks`, {
          method: 'POST', dispatcher,
          headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' },
          body: JSON.stringify({ job_name: `bench-${n}-${i}`, priority: 5, args: '--epochs 3', metadata: { client: String(n) } }),
        });
        await r.body.dump();
        if (r.statusCode === 201) latencies.push(performance.now() - t0);
        else errors++;
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
    const elapsed = (Date.now() - t0) / 1000;
    await dispatcher.close();
    c.child.kill('SIGTERM');
    await new Promise((r) => c.child.once('exit', r));
    latencies.sort((a, b) => a - b);
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.toFixed(1) ?? '-';
    return { preloaded, rate: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), errors, startMs: ms, n: latencies.length };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

console.log('## API: durable task creations (POST /v1/tasks, 32 concurrent clients)\n');
console.log('| stored before | created | creations/s | p50 ms | p99 ms | errors | control start ms |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const pre of [0, PRELOAD]) {
  const r = await run(pre);
  console.log(`| ${r.preloaded} | ${r.n} | ${r.rate.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.startMs} |`);
}
console.log('\nEach 201 is answered only after the journal fsync (group commit). Goal: ≥ 2,000/s at 100k.');

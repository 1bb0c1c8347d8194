/**
 * 1,000 simulated agents (lightweight WebSocket clients in this process: hello, heartbeats at the
 * interval control sets in welcome, task status for what they are assigned) against a real control
 * process. Reports control's CPU (utime+stime from /proc/<pid>/stat over a window, % of one core):
 *   idle   — heartbeats only;            goal (issue 4) < 25 % of one core
 *   churn  — tasks submitted and run by the simulated agents (each takes SIM_TASK_MS), planner on.
 * Run: node --import tsx bench/scheduler-agents.bench.ts
 *   SIM_AGENTS (1000), SIM_WINDOW_S (30), SIM_TASKS (5000), SIM_TASK_MS (1000),
 *   SIM_WORKER_TIMEOUT (s; control's FETCHML_WORKER_TIMEOUT, default 30 → heartbeats every 10 s)
 *   SIM_PRELOAD (0): queued tasks stored before control starts; then a third phase measures task
 *   creations/s through the API (32 clients, SIM_CREATE_S s) while the planner works that queue.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import { preloadTasks } from './preload.js';
import type { GpuInfo } from '../shared/api-types.js';
import { AGENT_CONNECT_PATH, PROTOCOL_VERSION, type ControlMessage, type HelloMessage, type RunningTaskReport } from '../shared/protocol.js';

const AGENTS = Number(process.env.SIM_AGENTS ?? 1000);
const WINDOW_S = Number(process.env.SIM_WINDOW_S ?? 30);
const TASKS = Number(process.env.SIM_TASKS ?? 5000);
const TASK_MS = Number(process.env.SIM_TASK_MS ?? 1000);
const WORKER_TIMEOUT = process.env.SIM_WORKER_TIMEOUT ?? '30';
const PRELOAD = Number(process.env.SIM_PRELOAD ?? 0);
const CREATE_S = Number(process.env.SIM_CREATE_S ?? 10);
const ADMIN = 'bench-admin-key-0123456789abcdef0123';
const TOKEN = 'bench-agent-token-0123456789';
const CLK_TCK = 100; // Linux USER_HZ

const tsFixture = fileURLToPath(new URL('../test/fixtures/run-control.ts', import.meta.url));
const jsFixture = fileURLToPath(new URL('../test/fixtures/run-control.js', import.meta.url));

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
}

/** Control's CPU use over `seconds`, in % of one core. */
async function cpuOver(pid: number, seconds: number): Promise<number> {
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return ((cpuTicks(pid) - t0) / CLK_TCK / ((performance.now() - w0) / 1000)) * 100;
}

function startControl(dataDir: string) {
  const prof = process.env.SIM_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SIM_CPU_PROF}`] : [];
  const args = [...prof, ...(import.meta.url.endsWith('.js') && existsSync(jsFixture) ? [jsFixture, dataDir] : ['--import', 'tsx', tsFixture, dataDir])];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, FETCHML_ADMIN_KEY: ADMIN, FETCHML_AGENT_TOKEN: TOKEN, FETCHML_WORKER_TIMEOUT: WORKER_TIMEOUT, FETCHML_RATE_LIMIT_RPS: '1000000', FETCHML_RATE_LIMIT_BURST: '1000000', FETCHML_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`control exited ${code}`)));
  });
  return { child, url };
}

/** One simulated agent: 8 GPUs, 8 batch slots; runs what it is assigned for TASK_MS. */
function simAgent(url: string, n: number, counters: { assigned: number; completed: number }) {
  const gpus: GpuInfo[] = Array.from({ length: 8 }, (_, index) => ({ index, uuid: `GPU-${n}-${index}`, name: 'NVIDIA H100 80GB HBM3', memory_total_mb: 81559, healthy: true }));
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${AGENT_CONNECT_PATH}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const running = new Map<string, RunningTaskReport>();
  let seq = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = (m: unknown) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
  const status = (task_id: string, epoch: number, state: RunningTaskReport['state'], extra: object = {}) =>
    send({ type: 'task_status', task_id, epoch, state, at: new Date().toISOString(), ...extra });
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.on('open', () => {
      const hello: HelloMessage = {
        type: 'hello', protocol: PROTOCOL_VERSION, worker_id: `sim-${n}`, name: `sim-${n}`, address: `10.0.${n >> 8}.${n & 255}`,
        capabilities: { gpus, cpu_cores: 64, memory_gb: 512, hostname: `sim-${n}`, runtime: 'process', probe_status: 'ok' },
        slots: { batch_total: 8, service_total: 1 }, running: [], agent_version: 'bench',
      };
      send(hello);
    });
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as ControlMessage;
      if (m.type === 'welcome') {
        // Spread the first heartbeats over one interval, as real agents started at different times would.
        const every = m.heartbeat_interval_ms;
        setTimeout(() => {
          timer = setInterval(() => send({ type: 'heartbeat', seq: ++seq, slots_used: { batch: running.size, service: 0 }, gpus, probe_status: 'ok', running: [...running.values()] }), every);
        }, Math.random() * every);
        resolve();
      } else if (m.type === 'assign') {
        const { task_id, epoch } = m.task;
        counters.assigned++;
        running.set(task_id, { task_id, epoch, state: 'running', gpu_uuids: [] });
        status(task_id, epoch, 'preparing');
        status(task_id, epoch, 'running');
        setTimeout(() => {
          running.delete(task_id);
          status(task_id, epoch, 'collecting');
          status(task_id, epoch, 'completed', { exit_code: 0 });
          counters.completed++;
        }, TASK_MS);
      }
    });
  });
  return { ready, close: () => (clearInterval(timer), ws.terminate()) };
}

async function api(url: string, method: string, path: string, body?: unknown) {
  const r = await fetch(`${url}${path}`, { method, headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: r.status, body: (await r.json()) as unknown };
}

/** Queued 1-GPU tasks written straight into the store. */
const preload = (dataDir: string, n: number) => preloadTasks(dataDir, n, () => ({ gpu: 1 }));

/** Creations/s through the API: 32 clients for `seconds`. */
async function createRate(url: string, seconds: number) {
  const dispatcher = new Agent({ connections: 32, pipelining: 1 });
  let ok = 0;
  let errors = 0;
  const deadline = Date.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 32 }, async (_, n) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const r = await request(`${url}/v1/tasks`, { method: 'POST', dispatcher, headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' }, body: JSON.stringify({ job_name: `c-${n}-${i}`, gpu: 1 }) });
      await r.body.dump();
      if (r.statusCode === 201) ok++;
      else errors++;
    }
  }));
  await dispatcher.close();
  return { rate: ok / ((performance.now() - t0) / 1000), errors };
}

const dataDir = await mkdtemp(join(tmpdir(), 'fetchml-sim-bench-'));
if (PRELOAD) await preload(dataDir, PRELOAD);
const c = startControl(dataDir);
try {
  const url = await c.url;
  const pid = c.child.pid!;
  const counters = { assigned: 0, completed: 0 };
  const t0 = performance.now();
  const agents: ReturnType<typeof simAgent>[] = [];
  for (let i = 0; i < AGENTS; i += 100) {
    const batch = Array.from({ length: Math.min(100, AGENTS - i) }, (_, k) => simAgent(url, i + k, counters));
    agents.push(...batch);
    await Promise.all(batch.map((a) => a.ready));
  }
  const connectMs = performance.now() - t0;
  const status = (await api(url, 'GET', '/v1/scheduler/status')).body as { workers_active: number };
  // Let the connection burst settle, then measure idle.
  await new Promise((r) => setTimeout(r, 2000));
  const idle = await cpuOver(pid, WINDOW_S);

  if (PRELOAD) {
    // Creations while the planner works a queue of PRELOAD tasks on a full cluster that keeps freeing slots.
    const counted = counters.completed;
    const cpu = cpuOver(pid, CREATE_S);
    const r = await createRate(url, CREATE_S);
    console.log(`with ${PRELOAD} queued tasks stored: ${r.rate.toFixed(0)} creations/s through the API (32 clients, ${r.errors} errors), control CPU ${(await cpu).toFixed(1)} %, ${counters.completed - counted} tasks completed meanwhile\n`);
  }

  // Churn: TASKS single-GPU tasks, submitted in batches of 100, run by the simulated agents.
  const s0 = performance.now();
  const submitting = (async () => {
    for (let i = 0; i < TASKS; i += 100) {
      if (TASKS === 0) break;
      const tasks = Array.from({ length: Math.min(100, TASKS - i) }, (_, k) => ({ job_name: `sim-${i + k}`, gpu: 1, priority: 1 + ((i + k) % 10) }));
      const r = await api(url, 'POST', '/v1/tasks/batch', { tasks });
      if (r.status !== 201) throw new Error(`batch create answered ${r.status}`);
    }
  })();
  const churn = await cpuOver(pid, WINDOW_S);
  await submitting;
  const churnS = (performance.now() - s0) / 1000;
  const completedInWindow = counters.completed;

  console.log('## Scheduler: 1,000 simulated agents against a real control process\n');
  console.log(`agents: ${AGENTS} (8 GPUs each), connected in ${connectMs.toFixed(0)} ms, control sees ${status.workers_active} active; worker timeout ${WORKER_TIMEOUT} s (heartbeat every ${Math.min(10, Number(WORKER_TIMEOUT) / 3)} s); window ${WINDOW_S} s\n`);
  console.log('| phase | control CPU (% of one core) | tasks assigned | tasks completed |');
  console.log('| --- | ---: | ---: | ---: |');
  console.log(`| idle (heartbeats only) | ${idle.toFixed(1)} | - | - |`);
  console.log(`| churn (${TASKS} tasks of ${TASK_MS} ms submitted) | ${churn.toFixed(1)} | ${counters.assigned} | ${completedInWindow} in ${churnS.toFixed(0)} s |`);
  for (const a of agents) a.close();
} finally {
  c.child.kill('SIGTERM');
  await new Promise((r) => c.child.once('exit', r));
  await rm(dataDir, { recursive: true, force: true });
}

/**
 * Dispatch benchmark, real processes on loopback: control in this process, one agent as a child
 * process (process runtime). (1) latency from POST /v1/tasks answering to the entrypoint starting
 * (the entrypoint writes its own start time), p50/p95 over sequential tasks on an idle agent;
 * (2) throughput of 1,000 `/bin/true` tasks (one POST /v1/tasks/batch) until all are completed.
 * Run: `node --import tsx bench/dispatch.bench.ts`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runControl } from '../control/main.js';
import { spawn } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';
import { fetchmlCommand } from '../test/helpers/paths.js';
import { spawnFetchml } from '../test/helpers/process.js';

const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 50);
const THROUGHPUT_TASKS = Number(process.env.BENCH_TASKS ?? 1000);
const SLOTS = Number(process.env.BENCH_SLOTS ?? 32);
const KEY = 'bench-admin-key-0123456789abcdef';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

const dir = await mkdtemp(join(tmpdir(), 'fetchml-bench-dispatch-'));
const control = await runControl({ port: 0, dataDir: join(dir, 'control'), quiet: true, env: { ...process.env, FETCHML_ADMIN_KEY: KEY, FETCHML_RATE_LIMIT_RPS: '100000', FETCHML_RATE_LIMIT_BURST: '100000', FETCHML_LOG_LEVEL: 'error' } });
const agentArgs = ['agent', '--control', control.url, '--token', control.agentToken, '--data-dir', join(dir, 'agent'), '--batch-slots', String(SLOTS)];
// BENCH_CPU_PROF=<dir>: profile the agent (it then stops with SIGTERM so the profile is written) and
// control during the throughput run (control-throughput.cpuprofile).
const prof = process.env.BENCH_CPU_PROF;
const agent = prof ? spawnProfiled(agentArgs, prof) : withPid(spawnFetchml(agentArgs, { env: { FETCHML_LOG_LEVEL: 'error' } }));
const api = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${control.url}${path}`, { method, headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return (await r.json()) as Record<string, unknown>;
};
try {
  for (;;) {
    const ws = (await api('GET', '/v1/scheduler/workers')) as unknown;
    if (Array.isArray(ws) && ws.length > 0) break;
    await sleep(20);
  }
  // (1) latency
  const lat: number[] = [];
  for (let i = 0; i < LATENCY_RUNS + 3; i++) {
    const mark = join(dir, `start-${i}`);
    const t = await api('POST', '/v1/tasks', { job_name: 'lat', entrypoint: `/bin/sh -c 'date +%s%N > ${mark}'` });
    const posted = performance.timeOrigin + performance.now();
    let started: number | undefined;
    while (started === undefined) {
      const s = await readFile(mark, 'utf8').catch(() => '');
      if (s.trim()) started = Number(BigInt(s.trim()) / 1000n) / 1000;
      else await sleep(1);
    }
    for (;;) {
      const x = await api('GET', `/v1/tasks/${String(t.id)}`);
      if (x.status === 'completed' || x.status === 'failed') break;
      await sleep(2);
    }
    if (i >= 3) lat.push(Math.max(0, started - posted)); // first runs warm up the JIT
  }
  // (2) throughput
  // The agent's resident launcher (agent/runtime/launcher.ts) is no child of the agent: count it apart.
  const launcherPid = Number((await readFile(join(dir, 'agent', 'launcher', 'launcher.pid'), 'utf8').catch(() => '')).trim()) || undefined;
  const cpu0 = { control: process.cpuUsage(), agent: await procCpu(agent.pid), launcher: await procCpu(launcherPid) };
  const session = prof ? await profileThisProcess() : undefined;
  const t0 = performance.now();
  const created = await api('POST', '/v1/tasks/batch', { tasks: Array.from({ length: THROUGHPUT_TASKS }, (_, i) => ({ job_name: `t${i}`, entrypoint: '/bin/true' })) });
  const ids = new Set(((created.tasks as Array<{ id: string }>) ?? []).map((t) => t.id));
  if (ids.size !== THROUGHPUT_TASKS) throw new Error(`batch create returned ${ids.size} tasks: ${JSON.stringify(created).slice(0, 300)}`);
  let done = 0;
  for (;;) {
    const q = await api('GET', '/v1/queue');
    done = Number(q.completed ?? 0) + Number(q.failed ?? 0) - LATENCY_RUNS - 3;
    if (done >= THROUGHPUT_TASKS) break;
    if (process.env.BENCH_DEBUG) console.error(JSON.stringify(q));
    await sleep(20);
  }
  const secs = (performance.now() - t0) / 1000;
  if (session && prof) await writeFile(join(prof, 'control-throughput.cpuprofile'), JSON.stringify((await session.post('Profiler.stop')).profile));
  const cpuControl = process.cpuUsage(cpu0.control);
  const agentCpu = await procCpu(agent.pid);
  const launcherCpu = await procCpu(launcherPid);
  const per = (ms: number) => `${(ms / THROUGHPUT_TASKS).toFixed(2)} ms/task`;
  console.log('## Dispatch (control + 1 agent, process runtime, loopback)\n');
  console.log('| measure | result | goal |');
  console.log('| --- | --- | --- |');
  console.log(`| POST → entrypoint start, p50 (${lat.length} runs, idle agent) | ${pct(lat, 50).toFixed(1)} ms | ≤ 20 ms |`);
  console.log(`| POST → entrypoint start, p95 | ${pct(lat, 95).toFixed(1)} ms | ≤ 50 ms |`);
  console.log(`| ${THROUGHPUT_TASKS} × /bin/true, ${SLOTS} batch slots, submit → all completed | ${secs.toFixed(2)} s = ${(THROUGHPUT_TASKS / secs).toFixed(0)} tasks/s | ≥ 450 tasks/s |`);
  // CPU time is steadier than wall time on a shared machine: it says where the work goes.
  console.log(`| CPU during (2): control (+ this client) | ${per((cpuControl.user + cpuControl.system) / 1000)} | |`);
  console.log(`| CPU during (2): agent process / its tasks | ${per(agentCpu.self - cpu0.agent.self)} / ${per(agentCpu.children - cpu0.agent.children)} | |`);
  console.log(`| CPU during (2): launcher / its tasks | ${per(launcherCpu.self - cpu0.launcher.self)} / ${per(launcherCpu.children - cpu0.launcher.children)} | |`);
  console.log(`\nload average (1 min) at the end: ${(await readFile('/proc/loadavg', 'utf8')).split(' ')[0]}\n`);
} finally {
  await agent.kill(prof ? 'SIGTERM' : 'SIGKILL');
  await control.close();
  await rm(dir, { recursive: true, force: true });
}

/** CPU milliseconds of a process and of its reaped children (/proc/<pid>/stat utime+stime, cutime+cstime). */
async function procCpu(pid: number | undefined): Promise<{ self: number; children: number }> {
  const raw = pid ? await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '') : '';
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ').map(Number);
  const tick = 10; // ms per clock tick (USER_HZ = 100 on Linux)
  return { self: ((f[11] ?? 0) + (f[12] ?? 0)) * tick, children: ((f[13] ?? 0) + (f[14] ?? 0)) * tick };
}

async function profileThisProcess(): Promise<Session> {
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.start');
  return s;
}

function withPid(s: ReturnType<typeof spawnFetchml>) {
  return { pid: s.child.pid, kill: (sig: NodeJS.Signals) => s.kill(sig) };
}

function spawnProfiled(args: string[], profDir: string) {
  const { command, args: pre } = fetchmlCommand();
  const child = spawn(command, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, ...pre, ...args], { env: { ...process.env, FETCHML_LOG_LEVEL: 'error' }, stdio: 'inherit' });
  const exited = new Promise((r) => child.once('exit', r));
  return { pid: child.pid, kill: async (sig: NodeJS.Signals) => (child.kill(sig), await exited) };
}

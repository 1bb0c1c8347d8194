/** Shared setup for the agent integration tests: control in-process, agents as real child processes. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runControl } from '../../control/main.js';
import type { Task, Worker } from '../../shared/api-types.js';
import { fixturesDir } from '../helpers/paths.js';
import { spawnFetchml, type Spawned } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

export const ADMIN_KEY = 'agent-it-admin-key-0123456789';

export interface Cluster {
  url: string;
  token: string;
  dir: string;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  startAgent(name: string, opts?: { fixture?: string; args?: string[]; env?: Record<string, string> }): Spawned;
  submit(body: Record<string, unknown>): Promise<Task>;
  task(id: string): Promise<Task>;
  waitStatus(id: string, statuses: string[], timeoutMs?: number): Promise<Task>;
  workers(): Promise<Worker[]>;
  close(): Promise<void>;
}

export async function startCluster(env: Record<string, string> = {}): Promise<Cluster> {
  const tmp = await tempDir('fetchml-agent-it-');
  const control = await runControl({ port: 0, dataDir: join(tmp.path, 'control'), env: { ...process.env, FETCHML_ADMIN_KEY: ADMIN_KEY, FETCHML_LOG_LEVEL: 'warn', FETCHML_RATE_LIMIT_RPS: '5000', FETCHML_RATE_LIMIT_BURST: '10000', ...env }, quiet: true });
  const agents: Spawned[] = [];
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const r = await fetch(`${control.url}${path}`, {
      method,
      headers: { 'x-api-key': ADMIN_KEY, ...(body !== undefined ? { 'content-type': body instanceof Uint8Array ? 'application/octet-stream' : 'application/json' } : {}) },
      ...(body !== undefined ? { body: body instanceof Uint8Array ? body : JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* text body (logs) */
    }
    return { status: r.status, body: parsed as T };
  };
  const task = async (id: string) => (await api<Task>('GET', `/v1/tasks/${id}`)).body;
  const cluster: Cluster = {
    url: control.url,
    token: control.agentToken,
    dir: tmp.path,
    api,
    startAgent(name, opts = {}) {
      const a = spawnFetchml(['agent', '--control', control.url, '--token', control.agentToken, '--data-dir', join(tmp.path, `agent-${name}`), '--name', name, ...(opts.args ?? [])], {
        env: { PATH: `${join(fixturesDir, 'bin-nvidia')}:${process.env.PATH}`, FAKE_NVIDIA_SMI_FIXTURE: opts.fixture ?? '1gpu', FETCHML_STOP_GRACE_SECONDS: '2', ...opts.env },
      });
      agents.push(a);
      return a;
    },
    async submit(body) {
      const r = await api<Task>('POST', '/v1/tasks', { job_name: 'it', ...body });
      if (r.status !== 201) throw new Error(`POST /v1/tasks answered ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body;
    },
    task,
    waitStatus: (id, statuses, timeoutMs = 15_000) =>
      waitFor(
        async () => {
          const t = await task(id);
          return statuses.includes(t.status) ? t : undefined;
        },
        { timeoutMs, what: `task ${id} to be ${statuses.join('|')}` },
      ),
    async workers() {
      const r = await api<Worker[] | { workers: Worker[] }>('GET', '/v1/scheduler/workers');
      return Array.isArray(r.body) ? r.body : r.body.workers;
    },
    async close() {
      for (const a of agents) await a.kill('SIGKILL');
      killLeftoverTasks(tmp.path);
      await control.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
  return cluster;
}

/**
 * Tasks outlive a SIGKILLed agent by design, kept by the agent's resident launcher: kill what each
 * agent's launcher still runs (whole process groups) and the launcher, so no test leaves work behind.
 */
function killLeftoverTasks(clusterDir: string): void {
  for (const entry of readdirSync(clusterDir).filter((n) => n.startsWith('agent-'))) {
    let launcher: number;
    try {
      launcher = Number(readFileSync(join(clusterDir, entry, 'launcher', 'launcher.pid'), 'utf8').trim());
    } catch {
      continue;
    }
    if (!(launcher > 0)) continue;
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${launcher}/task/${launcher}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
    } catch {
      /* launcher already gone */
    }
    // The launcher first: killed, it cannot write an exit file into a dir being removed.
    for (const pid of [launcher, ...children.map((c) => -c)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/** Kills a task's process group by the pid it printed (tasks outlive a killed agent by design). */
export function killPrintedPid(log: string): void {
  for (const m of log.matchAll(/pid=(\d+)/g)) {
    try {
      process.kill(-Number(m[1]), 'SIGKILL');
    } catch {
      try {
        process.kill(Number(m[1]), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

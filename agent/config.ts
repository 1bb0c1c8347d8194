/** The agent's settings: defaults ← environment ← options (flags), checked once and frozen. */
import os from 'node:os';
import { resolve } from 'node:path';

export interface AgentOptions {
  control: string;
  token?: string;
  dataDir?: string;
  name?: string;
  runtime?: 'process' | 'docker' | 'podman';
  batchSlots?: number;
  serviceSlots?: number;
  allowPrivateSources?: boolean;
}

export interface AgentConfig {
  control: string;
  token: string;
  dataDir: string;
  name: string;
  runtime: 'process' | 'docker' | 'podman';
  batchSlots?: number;
  serviceSlots?: number;
  allowPrivateSources: boolean;
  /** SIGTERM → SIGKILL grace when a task is cancelled. */
  stopGraceMs: number;
  /** Extra global / run flags for docker and podman (FETCHML_CONTAINER_GLOBAL_FLAGS, _RUN_FLAGS, space-separated). */
  containerGlobalFlags: string[];
  containerRunFlags: string[];
  /** Dataset roots that `datasets` names resolve under (FETCHML_DATASET_ROOTS, colon-separated). */
  datasetRoots: string[];
  /** Image for container tasks that name none (FETCHML_DEFAULT_IMAGE). */
  defaultImage: string;
  /** Which resident launcher starts process tasks (FETCHML_LAUNCHER): auto (python3, else node), python, node, none (a /bin/sh wrapper per task). */
  launcher: 'auto' | 'python' | 'node' | 'none';
  /** The python3 that runs the python launcher (FETCHML_LAUNCHER_PYTHON; default python3 on PATH). */
  launcherPython: string;
}

export const DEFAULT_IMAGE = 'docker.io/pytorch/pytorch:latest';

const slots = (v: number | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0) throw new Error(`${what} must be a whole number ≥ 0, got ${String(v)}`);
  return v;
};

export function loadAgentConfig(o: AgentOptions, env: NodeJS.ProcessEnv = process.env): Readonly<AgentConfig> {
  if (!o.control) throw new Error('--control URL is required (for example http://control.example:9101)');
  try {
    const u = new URL(o.control);
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) throw new Error();
  } catch {
    throw new Error(`--control must be an http(s) URL, got ${JSON.stringify(o.control)}`);
  }
  const token = o.token ?? env.FETCHML_AGENT_TOKEN ?? '';
  if (!token) throw new Error('no agent token: pass --token or set FETCHML_AGENT_TOKEN (control prints/stores it at <control-data-dir>/agent-token)');
  const runtime = o.runtime ?? 'process';
  if (!['process', 'docker', 'podman'].includes(runtime)) throw new Error(`--runtime must be process, docker or podman, got ${runtime}`);
  const grace = Number(env.FETCHML_STOP_GRACE_SECONDS ?? 10);
  const launcher = env.FETCHML_LAUNCHER || 'auto';
  if (!['auto', 'python', 'node', 'none'].includes(launcher)) throw new Error(`FETCHML_LAUNCHER must be auto, python, node or none, got ${JSON.stringify(launcher)}`);
  const words = (s: string | undefined) => (s ?? '').split(/\s+/).filter(Boolean);
  return Object.freeze({
    control: o.control,
    token,
    dataDir: resolve(o.dataDir ?? env.FETCHML_AGENT_DATA_DIR ?? './.fetchml/agent'),
    name: o.name ?? os.hostname(),
    runtime,
    batchSlots: slots(o.batchSlots, '--batch-slots'),
    serviceSlots: slots(o.serviceSlots, '--service-slots'),
    allowPrivateSources: o.allowPrivateSources ?? false,
    stopGraceMs: Number.isFinite(grace) && grace >= 0 ? grace * 1000 : 10_000,
    containerGlobalFlags: words(env.FETCHML_CONTAINER_GLOBAL_FLAGS),
    containerRunFlags: words(env.FETCHML_CONTAINER_RUN_FLAGS),
    datasetRoots: (env.FETCHML_DATASET_ROOTS ?? '').split(':').filter(Boolean),
    defaultImage: env.FETCHML_DEFAULT_IMAGE || DEFAULT_IMAGE,
    launcher: launcher as AgentConfig['launcher'],
    launcherPython: env.FETCHML_LAUNCHER_PYTHON || 'python3',
  });
}

/** Control's settings: defaults, overridden by the environment, overridden by explicit options. */
import { resolve } from 'node:path';

export interface ControlConfig {
  host: string;
  port: number;
  dataDir: string;
  version: string;
  /** Per-API-key token bucket. */
  rateLimitRps: number;
  rateLimitBurst: number;
  /** Per-client-address bucket for failed authentication. */
  authFailRps: number;
  authFailBurst: number;
  workerTimeoutMs: number;
  /** JSON bodies over this answer 413. */
  maxBodyBytes: number;
  /** PUT /v1/snapshots streams up to this. */
  maxSnapshotBytes: number;
  /** Task.output holds this many bytes of the log's tail. */
  logTailBytes: number;
  wsMaxMessageBytes: number;
  wsMessagesPerSecond: number;
  /** Image used when a Jupyter request names the seed's literal default. */
  jupyterImage: string;
  /** Scheduler (added by D, docs/scheduling.md): aging points per minute queued, and their cap. */
  agingRatePerMinute: number;
  agingCap: number;
  /** MASTER_PORT of multi-node tasks is drawn from this range ("min-max"). */
  masterPortRange: string;
  /**
   * Tasks in a final state whose end is older than this many days move from the live store to the
   * archive under <data-dir>/archive (control/store/task-archive.ts); 0 keeps every task live.
   */
  taskRetentionDays: number;
  /** How often the archive sweep runs after the one at start-up. */
  archiveSweepIntervalMs: number;
  /** Newest audit events kept parsed in memory; older ones are indexed and read from audit.jsonl. */
  auditMemoryEvents: number;
}

const num = (v: string | undefined, dflt: number, min = 0): number => {
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`invalid number ${JSON.stringify(v)} in configuration`);
  return n;
};

/** Whole days, 0 (never archive) up to 100 years; anything else is refused naming the variable. */
export function retentionDays(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return 0;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n > 36_500) {
    throw new Error(`FETCHML_TASK_RETENTION_DAYS must be a whole number of days from 0 to 36500 (0 keeps every task live), got ${JSON.stringify(v)}`);
  }
  return n;
}

/** A whole number of events, 0 up to 100 million; anything else is refused naming the variable. */
export function auditMemoryEvents(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return 100_000;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n > 100_000_000) {
    throw new Error(`FETCHML_AUDIT_MEMORY_EVENTS must be a whole number of audit events from 0 to 100000000 (default 100000), got ${JSON.stringify(v)}`);
  }
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, over: Partial<ControlConfig> = {}): ControlConfig {
  const cfg: ControlConfig = {
    host: '127.0.0.1',
    port: 9101,
    dataDir: resolve(env.FETCHML_DATA_DIR ?? './.fetchml/control'),
    version: '0.1.0',
    rateLimitRps: num(env.FETCHML_RATE_LIMIT_RPS, 50, 0.001),
    rateLimitBurst: num(env.FETCHML_RATE_LIMIT_BURST, 100, 1),
    authFailRps: num(env.FETCHML_AUTH_FAIL_RPS, 1, 0.001),
    authFailBurst: num(env.FETCHML_AUTH_FAIL_BURST, 20, 1),
    workerTimeoutMs: num(env.FETCHML_WORKER_TIMEOUT, 30, 1) * 1000,
    maxBodyBytes: 1024 * 1024,
    maxSnapshotBytes: num(env.FETCHML_MAX_SNAPSHOT_BYTES, 2 * 1024 ** 3, 1),
    logTailBytes: 64 * 1024,
    wsMaxMessageBytes: 4096,
    wsMessagesPerSecond: 20,
    jupyterImage: env.FETCHML_JUPYTER_IMAGE ?? 'jupyter/pytorch-notebook:latest',
    agingRatePerMinute: num(env.FETCHML_AGING_RATE_PER_MIN, 0.1, 0),
    agingCap: num(env.FETCHML_AGING_CAP, 5, 0),
    masterPortRange: env.FETCHML_MASTER_PORT_RANGE ?? '29500-29999',
    taskRetentionDays: retentionDays(env.FETCHML_TASK_RETENTION_DAYS),
    archiveSweepIntervalMs: 3600_000,
    auditMemoryEvents: auditMemoryEvents(env.FETCHML_AUDIT_MEMORY_EVENTS),
  };
  const merged = { ...cfg, ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)) } as ControlConfig;
  merged.dataDir = resolve(merged.dataDir);
  return merged;
}

/**
 * Applies an agent's task_report frame (shared/protocol.ts): sidecar health becomes
 * Task.plugin_status, a service task's port makes its Jupyter record running. Only the worker
 * holding the task's current epoch is listened to; anything malformed is dropped.
 */
import type { PluginStatus, Task } from '../../shared/api-types.js';
import { isBuiltinPlugin } from '../../shared/plugins.js';
import type { TaskReportMessage } from '../../shared/protocol.js';
import type { ControlContext } from '../context.js';
import { jupyterServiceReport } from './jupyter.js';

const STATUSES = new Set(['healthy', 'unhealthy', 'starting', 'stopped']);
const SERVICE_STATES = new Set(['ready', 'error', 'stopped']);
/** A report that only refreshes last_check is written at most this often. */
const REFRESH_MS = 60_000;

const short = (v: unknown, max: number): string | undefined => (typeof v === 'string' && v !== '' ? v.slice(0, max) : undefined);

/** The well-formed entries of a reported plugin_status (known plugins, known statuses). */
export function cleanPluginStatus(raw: unknown): Record<string, PluginStatus> | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const out: Record<string, PluginStatus> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!isBuiltinPlugin(name) || !v || typeof v !== 'object') continue;
    const e = v as Record<string, unknown>;
    if (typeof e.status !== 'string' || !STATUSES.has(e.status)) continue;
    const url = short(e.url, 2048);
    const message = short(e.message, 1024);
    const at = typeof e.last_check === 'string' && !Number.isNaN(Date.parse(e.last_check)) ? new Date(e.last_check).toISOString() : undefined;
    out[name] = { name, status: e.status as PluginStatus['status'], ...(url ? { url } : {}), ...(message ? { message } : {}), ...(at ? { last_check: at } : {}) };
  }
  return Object.keys(out).length ? out : undefined;
}

const sameApartFromCheck = (a: Record<string, PluginStatus> | undefined, b: Record<string, PluginStatus>): boolean =>
  !!a &&
  Object.keys(a).length === Object.keys(b).length &&
  Object.entries(b).every(([k, v]) => a[k]?.status === v.status && a[k]?.url === v.url && a[k]?.message === v.message);

function stale(prev: Record<string, PluginStatus> | undefined, now: number): boolean {
  const checks = Object.values(prev ?? {}).map((s) => Date.parse(s.last_check ?? ''));
  return checks.some((c) => !Number.isFinite(c) || now - c > REFRESH_MS);
}

export async function applyTaskReport(ctx: ControlContext, workerId: string, m: TaskReportMessage): Promise<void> {
  if (typeof m.task_id !== 'string' || typeof m.epoch !== 'number') return;
  const t: Task | undefined = ctx.store.get('tasks', m.task_id);
  if (!t || t.worker_id !== workerId || t.epoch !== m.epoch) return;
  const plugins = cleanPluginStatus(m.plugin_status);
  if (plugins && (!sameApartFromCheck(t.plugin_status, plugins) || stale(t.plugin_status, ctx.clock.now()))) {
    await ctx.tasks.transition(t.id, { plugin_status: { ...t.plugin_status, ...plugins } });
  }
  const s = m.service;
  if (s && typeof s === 'object' && SERVICE_STATES.has(s.state) && Number.isInteger(s.port) && s.port >= 0 && s.port < 65536) {
    if (s.state === 'ready' && s.port === 0) return;
    await jupyterServiceReport(ctx, ctx.store.get('tasks', t.id) ?? t, { port: s.port, state: s.state, ...(short(s.error, 1024) ? { error: short(s.error, 1024)! } : {}) });
  }
}

/** Operator commands: workers, queue, scheduler status, reservations. */
import type { Worker } from '../../shared/api-types.js';
import { parseDuration } from '../../shared/time.js';
import type { ActionContext } from '../commands/common.js';
import { UsageError } from '../errors.js';
import { age, formatTable, jsonOut, paintStatus } from '../output.js';
import { withSession } from './context.js';

function durationSeconds(text: string, flag: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0) throw new UsageError(`${flag} "${text}": expected a duration like 90s, 30m, 2h`);
  return Math.round(ms / 1000);
}

export function workersTable(workers: Worker[], width?: number): string {
  const rows = workers.map((w) => [
    w.id,
    w.name ?? '-',
    paintStatus(w.status) + (w.status_reason ? ` (${w.status_reason})` : ''),
    `${w.capabilities.gpu_count}${w.capabilities.gpu_type ? `×${w.capabilities.gpu_type}` : ''}`,
    `${w.slots.batch_total - w.slots.batch_available}/${w.slots.batch_total}`,
    `${w.slots.service_total - w.slots.service_available}/${w.slots.service_total}`,
    String(w.active_tasks.length),
    age(w.last_heartbeat),
  ]);
  return formatTable(['id', 'name', 'status', 'gpus', 'batch', 'service', 'tasks', 'heartbeat'], rows, width ? { width } : {});
}

export async function listWorkersCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const list = await s.client.workers();
    s.print(list, () => (list.length === 0 ? 'no workers\n' : workersTable(list)));
    return 0;
  });
}

export async function showWorkerCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const w = await s.client.worker(args[0]!);
    const c = w.capabilities;
    const disk = c.disk_total_gb !== undefined ? `disk (data dir): ${c.disk_free_gb ?? '?'} GB free of ${c.disk_total_gb} GB\n` : '';
    s.print(w, () => workersTable([w]) + disk + (c.gpus?.length ? formatTable(['gpu', 'name', 'memory', 'healthy'], c.gpus.map((g) => [String(g.index), g.name, `${g.memory_total_mb} MiB`, g.healthy ? 'yes' : `no: ${g.unhealthy_reason ?? ''}`])) : ''));
    return 0;
  });
}

export async function drainCommand({ args, opts }: ActionContext): Promise<number> {
  const deadlineSeconds = typeof opts.deadline === 'string' ? durationSeconds(opts.deadline, '--deadline') : undefined;
  return withSession(opts, async (s) => {
    const id = args[0]!;
    await s.client.drainWorker(id, { deadlineSeconds, reason: typeof opts.reason === 'string' ? opts.reason : undefined });
    const w = await s.client.worker(id).catch(() => undefined);
    s.print(w ?? { id, status: 'draining' }, () => `worker ${id} draining${deadlineSeconds !== undefined ? ` (deadline ${opts.deadline})` : ''}\n`);
    return 0;
  });
}

export async function undrainCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const w = await s.client.undrainWorker(args[0]!);
    s.print(w, () => `worker ${args[0]} ${w?.status ?? 'active'}\n`);
    return 0;
  });
}

export async function queueCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const q = await s.client.queue();
    s.print(q, () => formatTable(['queued', 'running', 'completed today', 'failed today', 'workers'], [[q.queued, q.running, q.completed, q.failed, q.workers].map(String)]));
    return 0;
  });
}

export async function schedulerStatusCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const st = await s.client.schedulerStatus();
    s.print(st, () => {
      const entries = Object.entries(st).map(([k, v]) => [k.replace(/_/g, ' '), String(v)]);
      const w = Math.max(0, ...entries.map(([k]) => k!.length));
      return entries.map(([k, v]) => `${k!.padEnd(w)}  ${v}`).join('\n') + '\n';
    });
    if (!opts.watch) return 0;
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    await s.client.schedulerStream((e) => {
      if (s.json) s.out(`${JSON.stringify({ event: e.event, data: safeJson(e.data) })}\n`);
      else s.out(`${new Date().toISOString()}  ${e.event}  ${e.data}\n`);
    }, stop.signal);
    return 0;
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function listReservationsCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const list = await s.client.reservations();
    s.print(list, () =>
      list.length === 0
        ? 'no reservations\n'
        : formatTable(
            ['id', 'user', 'gpus', 'nodes', 'status', 'expires'],
            list.map((r) => [r.id, r.user_id, `${r.gpu_count}${r.gpu_type ? `×${r.gpu_type}` : ''}`, String(r.node_count), paintStatus(r.status), r.expires_at]),
          ),
    );
    return 0;
  });
}

export async function createReservationCommand({ opts }: ActionContext): Promise<number> {
  const expiresMinutes = Math.max(1, Math.ceil(durationSeconds(String(opts.expires ?? '30m'), '--expires') / 60));
  return withSession(opts, async (s) => {
    const r = await s.client.createReservation({
      gpu_count: Number(opts.gpus),
      ...(typeof opts.gpuType === 'string' ? { gpu_type: opts.gpuType } : {}),
      ...(opts.nodes !== undefined ? { node_count: Number(opts.nodes) } : {}),
      expires_minutes: expiresMinutes,
    });
    s.out(s.json ? jsonOut(r) : `reservation ${r.id} ${r.status}, expires ${r.expires_at}\n`);
    return 0;
  });
}

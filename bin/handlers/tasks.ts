/** Task, experiment and Jupyter commands for researchers. */
import type { Task, TaskStatus } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import type { ActionContext } from '../commands/common.js';
import { age, formatTable, humanDuration, jsonOut, paintStatus } from '../output.js';
import { withSession } from './context.js';
import { followTask, taskExitCode } from './follow.js';

function resources(t: Task): string {
  const parts: string[] = [];
  if (t.gpu) parts.push(`${t.gpu}${t.gpu_type ? `×${t.gpu_type}` : ''} gpu`);
  if (t.cpu) parts.push(`${t.cpu} cpu`);
  if (t.memory_gb) parts.push(`${t.memory_gb}G`);
  if (t.node_count > 1) parts.push(`${t.node_count} nodes`);
  return parts.join(', ') || '-';
}

function runtime(t: Task, now = Date.now()): string {
  if (!t.started_at) return '-';
  const end = t.ended_at ? Date.parse(t.ended_at) : now;
  return humanDuration(end - Date.parse(t.started_at));
}

export function tasksTable(tasks: Task[], width?: number): string {
  const rows = tasks.map((t) => [
    t.id,
    t.job_name,
    paintStatus(t.status),
    String(t.priority),
    t.user_id,
    resources(t),
    t.worker_id ?? (t.status === 'queued' ? (t.pending_reason ?? '') : '-'),
    age(t.created_at),
    runtime(t),
  ]);
  return formatTable(['id', 'name', 'status', 'pri', 'user', 'resources', 'worker', 'created', 'ran'], rows, width ? { width } : {});
}

export async function listTasksCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    // Without --all or --user, control's default (the caller's own tasks for users, all for admins) applies.
    const list = await s.client.listTasks({
      status: opts.status as TaskStatus | undefined,
      user_id: typeof opts.user === 'string' ? opts.user : undefined,
      limit: Number(opts.limit ?? 50),
    });
    s.print(list, () => (list.tasks.length === 0 ? 'no tasks\n' : tasksTable(list.tasks) + (list.total > list.tasks.length ? `(${list.tasks.length} of ${list.total}; use --limit)\n` : '')));
    return 0;
  });
}

export async function showTaskCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const t = await s.client.getTask(args[0]!);
    s.print(t, () => {
      const lines: Array<[string, string | undefined]> = [
        ['id', t.id],
        ['name', t.job_name],
        ['status', paintStatus(t.status) + (t.pending_reason && t.status === 'queued' ? ` (${t.pending_reason})` : '')],
        ['user', t.user_id],
        ['priority', String(t.priority)],
        ['entrypoint', [t.entrypoint, t.args].filter(Boolean).join(' ')],
        ['resources', resources(t)],
        ['image', t.image],
        ['snapshot', t.snapshot_id],
        ['worker', t.worker_id],
        ['created', t.created_at ? `${t.created_at} (${age(t.created_at)})` : undefined],
        ['started', t.started_at],
        ['ended', t.ended_at],
        ['ran', runtime(t)],
        ['exit code', t.exit_code === undefined ? undefined : String(t.exit_code)],
        ['retries', `${t.retry_count}/${t.max_retries}`],
        ['error', t.error],
      ];
      const shown = lines.filter(([, v]) => v !== undefined && v !== '');
      const w = Math.max(...shown.map(([k]) => k.length));
      return shown.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
    });
    return 0;
  });
}

export async function logsCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const id = args[0]!;
    const node = typeof opts.node === 'number' ? opts.node : undefined;
    if (!opts.follow) {
      s.out(await s.client.taskLogs(id, { node }));
      return 0;
    }
    const t = await s.client.getTask(id);
    if (isFinalStatus(t.status)) {
      s.out(await s.client.taskLogs(id, { node }));
      return taskExitCode(t);
    }
    return followTask(s, id, { cancelOnInterrupt: false, logsTo: 'stdout', printFinalJson: false, node });
  });
}

export async function cancelCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const results: Array<{ id: string; cancelled: boolean; error?: string }> = [];
    for (const id of args) {
      try {
        await s.client.cancelTask(id);
        results.push({ id, cancelled: true });
        if (!s.json) s.out(`cancelled ${id}\n`);
      } catch (err) {
        results.push({ id, cancelled: false, error: (err as Error).message });
        if (!s.json) s.err(`error: ${id}: ${(err as Error).message}\n`);
      }
    }
    if (s.json) s.out(jsonOut(results));
    return results.every((r) => r.cancelled) ? 0 : 1;
  });
}

export async function priorityCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const t = await s.client.setPriority(args[0]!, Number(args[1]));
    s.print(t, () => `task ${t.id} priority ${t.priority}\n`);
    return 0;
  });
}

export async function listExperimentsCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const list = await s.client.experiments();
    s.print(list, () =>
      list.length === 0 ? 'no experiments\n' : formatTable(['id', 'name', 'status', 'user', 'created'], list.map((e) => [e.id, e.name, e.status, e.user_id ?? '-', age(e.created_at)])),
    );
    return 0;
  });
}

export async function createExperimentCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const e = await s.client.createExperiment({ name: args[0]!, ...(typeof opts.description === 'string' ? { description: opts.description } : {}) });
    s.print(e, () => `experiment ${e.name} created (${e.id})\n`);
    return 0;
  });
}

export async function jupyterStartCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const svc = await s.client.startJupyter({
      name: args[0]!,
      ...(typeof opts.image === 'string' ? { image: opts.image } : {}),
      ...(typeof opts.workspace === 'string' ? { workspace: opts.workspace } : {}),
    });
    s.print(svc, () => `jupyter ${svc.name} ${svc.status} (${svc.id})${svc.url ? `\n  ${svc.url}${svc.token ? `?token=${svc.token}` : ''}` : ''}\n`);
    return 0;
  });
}

export async function jupyterListCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const list = await s.client.jupyterServices();
    s.print(list, () =>
      list.length === 0
        ? 'no Jupyter services\n'
        : formatTable(['id', 'name', 'status', 'url', 'created'], list.map((j) => [j.id, j.name, paintStatus(j.status), j.url ?? '-', age(j.created_at)])),
    );
    return 0;
  });
}

export async function jupyterStopCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    await s.client.stopJupyter(args[0]!);
    s.print({ id: args[0], stopped: true }, () => `stopped ${args[0]}\n`);
    return 0;
  });
}

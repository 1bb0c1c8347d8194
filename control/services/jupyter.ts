/**
 * Jupyter services. Starting one stores the record and queues a service-slot task owned by the same
 * user whose entrypoint runs `jupyter notebook` on the port the agent chooses (FETCHML_SERVICE_PORT);
 * the agent probes it and reports the port (task-reports.ts), which makes the record `running` with
 * its URL. Stopping cancels the task: `stopping` until the agent says the server is gone.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { JupyterService, Task } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import { FetchmlError, notFound, validationError } from '../../shared/errors.js';
import { iso } from '../../shared/time.js';
import type { ControlContext } from '../context.js';
import { canSee, commitAndAnnounce, type Actor } from './actor.js';

const SEED_DEFAULT_IMAGE = 'jupyter/pytorch:latest';
/** Task metadata key linking a service task to its Jupyter record. */
export const JUPYTER_META = 'jupyter_service_id';
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * QUIRKS: the token (and the URL carrying it) is shown only to the service's owner, not even to
 * admins (docs/api.md): an admin can see and stop the service, not open it as that user.
 */
export const jupyterView = (actor: Actor, s: JupyterService): JupyterService => {
  const full = actor.kind === 'key' && actor.user_id === s.user_id;
  const { token, url, ...rest } = s;
  if (!full) return { ...rest, ...(url ? { url } : {}) };
  return { ...rest, ...(token ? { token } : {}), ...(url ? { url: token ? `${url}?token=${token}` : url } : {}) };
};

/**
 * The service task's entrypoint. The token travels as JUPYTER_TOKEN (notebook reads it), so it is
 * not on the server's command line; args are single-quoted so no shell syntax is refused.
 */
export function jupyterCommand(token: string): { entrypoint: string; args: string } {
  const script = [
    `JUPYTER_TOKEN=${token} exec jupyter notebook --no-browser --allow-root --port-retries=0`,
    '--ip="${FETCHML_SERVICE_BIND:-0.0.0.0}" --port="$FETCHML_SERVICE_PORT" --notebook-dir="$FETCHML_WORKSPACE"',
  ].join(' ');
  return { entrypoint: '/bin/sh', args: `-c '${script}'` };
}

/** http://host:port/ for a worker address (IPv6 literals bracketed). */
export function serviceBaseUrl(address: string, port: number): string {
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  return `http://${host}:${port}/`;
}

/** Read-modify-write of the current record, so concurrent updates (report vs. start) do not undo each other. */
async function updateRecord(ctx: ControlContext, id: string, f: (s: JupyterService) => JupyterService | undefined) {
  const cur = ctx.store.get('jupyter', id);
  const next = cur && f(cur);
  if (next) await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'jupyter', value: next }]);
  return next;
}

const without = (s: JupyterService, ...keys: Array<keyof JupyterService>): JupyterService => {
  const o = { ...s };
  for (const k of keys) delete o[k];
  return o;
};

/** The agent's word on a service task (task-reports.ts): up at a port, never came up, or gone. */
export async function jupyterServiceReport(ctx: ControlContext, task: Task, r: { port: number; state: 'ready' | 'error' | 'stopped'; error?: string }) {
  const id = task.metadata?.[JUPYTER_META];
  if (!id) return;
  const worker = task.worker_id ? ctx.store.get('workers', task.worker_id) : undefined;
  await updateRecord(ctx, id, (s) => {
    if (s.task_id !== undefined && s.task_id !== task.id) return undefined;
    if (r.state === 'stopped') return s.status === 'stopping' ? { ...without(s, 'url'), status: 'stopped' } : undefined;
    if (s.status !== 'starting' && s.status !== 'running') return undefined;
    if (r.state === 'error') return { ...without(s, 'url'), status: 'error', error: r.error ?? 'the Jupyter server did not come up' };
    const url = serviceBaseUrl(worker?.address || '127.0.0.1', r.port);
    return s.status === 'running' && s.url === url ? undefined : { ...without(s, 'error'), status: 'running', url, ...(task.worker_id ? { worker_id: task.worker_id } : {}) };
  });
}

export function createJupyterService(ctx: ControlContext) {
  const log = ctx.logger.child({ part: 'jupyter' });
  const update = (id: string, f: (s: JupyterService) => JupyterService | undefined) => updateRecord(ctx, id, f);

  /** The service task changed: follow it (requeued → starting again; over → stopped or error). */
  const followTask = async (t: Task) => {
    const id = t.metadata?.[JUPYTER_META];
    if (!id) return;
    await update(id, (s) => {
      if (s.task_id !== undefined && s.task_id !== t.id) return undefined;
      if (s.status === 'stopped' || s.status === 'error') return undefined;
      if (isFinalStatus(t.status)) {
        // A cancel we asked for waits for the agent (task-reports.ts) unless the task never reached one.
        if (s.status === 'stopping') return t.worker_id ? undefined : { ...without(s, 'url'), status: 'stopped' };
        if (t.status === 'failed') return { ...without(s, 'url'), status: 'error', error: t.error ?? 'the Jupyter task failed' };
        return { ...without(s, 'url'), status: 'stopped' };
      }
      if (t.status === 'queued' && (s.status === 'running' || s.worker_id)) return { ...without(s, 'url', 'worker_id'), status: 'starting' };
      if (t.worker_id && t.worker_id !== s.worker_id && s.status !== 'stopping') return { ...s, worker_id: t.worker_id };
      return undefined;
    });
  };
  ctx.events.on('task', (t) => void followTask(t).catch((err: unknown) => log.error({ err, task: t.id }, 'could not follow a Jupyter task')));
  // A worker gone offline will never confirm a stop: its stopping services are stopped.
  ctx.events.on('worker', (w) => {
    if (w.status !== 'offline') return;
    for (const s of ctx.store.values('jupyter')) {
      if (s.worker_id === w.id && s.status === 'stopping') void update(s.id, (cur) => (cur.status === 'stopping' ? { ...without(cur, 'url'), status: 'stopped' } : undefined)).catch(() => undefined);
    }
  });

  return {
    async start(actor: Actor, req: { name: string; workspace?: string; image?: string }): Promise<JupyterService> {
      if (actor.kind !== 'key') throw validationError('agents cannot start Jupyter services');
      const workspace = req.workspace ?? '';
      if (workspace !== '') {
        if (!SHA256.test(workspace)) throw validationError('workspace: a snapshot id (64 lowercase hex characters, the sha256 of an uploaded snapshot) or empty');
        if (!(await ctx.snapshots.has(workspace))) throw validationError(`workspace: no snapshot ${workspace} (upload it with PUT /v1/snapshots/{sha256})`);
      }
      const image = !req.image || req.image === SEED_DEFAULT_IMAGE ? ctx.config.jupyterImage : req.image;
      const s: JupyterService = {
        id: randomUUID(),
        name: req.name,
        status: 'starting',
        token: randomBytes(24).toString('hex'), // 192 bits
        created_at: iso(ctx.clock.now()),
        user_id: actor.user_id,
        image,
        ...(workspace ? { workspace } : {}),
      };
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'jupyter', value: s }], [
        { event_type: 'jupyter_started', user_id: actor.user_id, resource: `jupyter:${s.id}`, action: 'start', success: true, metadata: { image, ...(workspace ? { workspace } : {}) } },
      ]);
      let task: Task;
      try {
        task = await ctx.tasks.create(actor, {
          job_name: `jupyter-${req.name}`,
          ...jupyterCommand(s.token!),
          slot_kind: 'service',
          image,
          ...(workspace ? { snapshot_id: workspace } : {}),
          metadata: { [JUPYTER_META]: s.id },
        });
      } catch (err) {
        await update(s.id, (cur) => ({ ...cur, status: 'error', error: `could not queue its task: ${err instanceof Error ? err.message : String(err)}` }));
        throw err instanceof FetchmlError ? err : new FetchmlError('INTERNAL_ERROR', 'could not queue the Jupyter task');
      }
      return (await update(s.id, (cur) => ({ ...cur, task_id: task.id }))) ?? { ...s, task_id: task.id };
    },
    list: (actor: Actor) => [...ctx.store.values('jupyter')].filter((s) => canSee(actor, s.user_id)),
    async stop(actor: Actor, id: string) {
      const s = ctx.store.get('jupyter', id);
      if (!s || !canSee(actor, s.user_id)) throw notFound('Jupyter service');
      if (s.status === 'stopped' || s.status === 'error' || s.status === 'stopping') return;
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'jupyter', value: { ...s, status: 'stopping' } }], [
        { event_type: 'jupyter_stopped', user_id: actor.kind === 'key' ? actor.user_id : 'agent', resource: `jupyter:${id}`, action: 'stop', success: true },
      ]);
      const t = s.task_id ? ctx.store.get('tasks', s.task_id) : undefined;
      if (t && !isFinalStatus(t.status)) await ctx.tasks.cancel(actor, t.id).catch((err: unknown) => log.warn({ err, task: t.id }, 'could not cancel the Jupyter task'));
      // Nothing runs anywhere (never placed, or already over): stopped at once. Otherwise the agent confirms.
      if (!t || !t.worker_id || isFinalStatus(t.status)) await update(id, (cur) => (cur.status === 'stopping' ? { ...without(cur, 'url'), status: 'stopped' } : undefined));
    },
  };
}

export type JupyterServices = ReturnType<typeof createJupyterService>;

/** Jupyter service records. Running them is the agent's part; here they are stored and shown. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { JupyterService } from '../../shared/api-types.js';
import { notFound } from '../../shared/errors.js';
import { iso } from '../../shared/time.js';
import type { ControlContext } from '../context.js';
import { canSee, commitAndAnnounce, isAdmin, type Actor } from './actor.js';

const SEED_DEFAULT_IMAGE = 'jupyter/pytorch:latest';

/** QUIRKS: the token is shown only to the service's owner. */
export const jupyterView = (actor: Actor, s: JupyterService): JupyterService => {
  if (actor.kind === 'key' && actor.user_id === s.user_id) return s;
  const { token: _hidden, ...rest } = s;
  return rest;
};

export function createJupyterService(ctx: ControlContext) {
  return {
    async start(actor: Actor, req: { name: string; workspace?: string; image?: string }): Promise<JupyterService> {
      const user = actor.kind === 'key' ? actor.user_id : 'agent';
      const image = !req.image || req.image === SEED_DEFAULT_IMAGE ? ctx.config.jupyterImage : req.image;
      const s: JupyterService = {
        id: randomUUID(),
        name: req.name,
        status: 'starting',
        token: randomBytes(24).toString('hex'),
        created_at: iso(ctx.clock.now()),
        user_id: user,
        image,
        ...(req.workspace !== undefined ? { workspace: req.workspace } : {}),
      };
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'jupyter', value: s }], [
        { event_type: 'jupyter_started', user_id: user, resource: `jupyter:${s.id}`, action: 'start', success: true },
      ]);
      return s;
    },
    list: (actor: Actor) => [...ctx.store.values('jupyter')].filter((s) => isAdmin(actor) || canSee(actor, s.user_id)),
    async stop(actor: Actor, id: string) {
      const s = ctx.store.get('jupyter', id);
      if (!s || !canSee(actor, s.user_id)) throw notFound('Jupyter service');
      if (s.status === 'stopped') return;
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'jupyter', value: { ...s, status: 'stopped' } }], [
        { event_type: 'jupyter_stopped', user_id: actor.kind === 'key' ? actor.user_id : 'agent', resource: `jupyter:${id}`, action: 'stop', success: true },
      ]);
    },
  };
}

/** Experiments: create, list, get, delete (marks `deleted`, keeps the record). */
import { randomUUID } from 'node:crypto';
import type { Experiment } from '../../shared/api-types.js';
import { notFound } from '../../shared/errors.js';
import { iso } from '../../shared/time.js';
import type { ControlContext } from '../context.js';
import { canSee, commitAndAnnounce, isAdmin, type Actor } from './actor.js';

export function createExperimentService(ctx: ControlContext) {
  const visible = (actor: Actor, id: string) => {
    const e = ctx.store.get('experiments', id);
    if (!e || !canSee(actor, e.user_id)) throw notFound('Experiment');
    return e;
  };
  return {
    async create(actor: Actor, req: { name: string; description?: string; commit_id?: string }): Promise<Experiment> {
      const user = actor.kind === 'key' ? actor.user_id : 'agent';
      const e: Experiment = { ...req, id: randomUUID(), created_at: iso(ctx.clock.now()), status: 'active', user_id: user };
      await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'experiments', value: e }], [
        { event_type: 'experiment_created', user_id: user, resource: `experiment:${e.id}`, action: 'create', success: true },
      ]);
      return e;
    },
    list: (actor: Actor): Experiment[] => [...ctx.store.values('experiments')].filter((e) => isAdmin(actor) || canSee(actor, e.user_id)),
    get: visible,
    async remove(actor: Actor, id: string) {
      const e = visible(actor, id);
      if (e.status === 'deleted') return;
      await ctx.store.commit([{ op: 'put', coll: 'experiments', value: { ...e, status: 'deleted' } }]);
    },
  };
}

import { jupyterView } from '../../services/jupyter.js';
import { actorOf, body, params, type ApiDeps, type Handlers } from './types.js';

export function jupyterRoutes({ jupyter }: ApiDeps): Handlers {
  return {
    listJupyterServices: (req) => {
      const actor = actorOf(req);
      return jupyter.list(actor).map((s) => jupyterView(actor, s));
    },
    startJupyterService: async (req, reply) => {
      const actor = actorOf(req);
      return reply.code(201).send(jupyterView(actor, await jupyter.start(actor, body<{ name: string; workspace?: string; image?: string }>(req))));
    },
    stopJupyterService: async (req, reply) => {
      await jupyter.stop(actorOf(req), params<'serviceId'>(req).serviceId);
      return reply.code(204).send();
    },
  };
}

import { jupyterView } from '../../services/jupyter.js';
import { actorOf, body, params, type ApiDeps, type Handlers } from './types.js';

export function jupyterRoutes({ jupyter }: ApiDeps): Handlers {
  return {
    listJupyterServices: (req) => {
      const actor = actorOf(req);
      return jupyter.list(actor).map((s) => jupyterView(actor, s));
    },
    startJupyterService: async (req, reply) => reply.code(201).send(await jupyter.start(actorOf(req), body(req))),
    stopJupyterService: async (req, reply) => {
      await jupyter.stop(actorOf(req), params<'serviceId'>(req).serviceId);
      return reply.code(204).send();
    },
  };
}

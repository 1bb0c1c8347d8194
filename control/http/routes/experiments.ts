import { actorOf, body, params, type ApiDeps, type Handlers } from './types.js';

export function experimentRoutes({ experiments }: ApiDeps): Handlers {
  return {
    listExperiments: (req) => experiments.list(actorOf(req)),
    createExperiment: async (req, reply) => reply.code(201).send(await experiments.create(actorOf(req), body(req))),
    getExperiment: (req) => experiments.get(actorOf(req), params<'experimentId'>(req).experimentId),
    deleteExperiment: async (req, reply) => {
      await experiments.remove(actorOf(req), params<'experimentId'>(req).experimentId);
      return reply.code(204).send();
    },
  };
}

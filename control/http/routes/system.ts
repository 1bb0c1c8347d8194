import { badRequest } from '../../../shared/errors.js';
import { iso } from '../../../shared/time.js';
import type { ApiDeps, Handlers } from './types.js';

export function systemRoutes({ ctx, spec, metrics }: ApiDeps): Handlers {
  return {
    getHealth: () => ({ status: 'healthy', version: ctx.config.version, timestamp: iso(ctx.clock.now()) }),
    getOpenApiSpec: (_req, reply) => reply.type('application/yaml; charset=utf-8').send(spec.text),
    getMetrics: async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.render()),
    // Upgrades are routed in server.ts before fastify sees them; a plain GET lands here.
    connectWebSocket: () => {
      throw badRequest('WebSocket upgrade required');
    },
  };
}

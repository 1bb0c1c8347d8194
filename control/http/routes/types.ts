import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ControlContext } from '../../context.js';
import type { Actor } from '../../services/actor.js';
import type { createExperimentService } from '../../services/experiments.js';
import type { createJupyterService } from '../../services/jupyter.js';
import type { KeyService } from '../../services/keys.js';
import type { createPluginService } from '../../services/plugins.js';
import type { Metrics } from '../../metrics.js';
import type { LoadedSpec } from '../spec.js';
import { unauthorized } from '../../../shared/errors.js';

export interface ApiDeps {
  ctx: ControlContext;
  spec: LoadedSpec;
  keys: KeyService;
  experiments: ReturnType<typeof createExperimentService>;
  plugins: ReturnType<typeof createPluginService>;
  jupyter: ReturnType<typeof createJupyterService>;
  metrics: Metrics;
}

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> | unknown;
/** Route handlers by the spec's operationId. */
export type Handlers = Record<string, Handler>;

/** The caller, set by the auth hook on every non-open route. */
export function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw unauthorized();
  return req.actor;
}
export const userOf = (req: FastifyRequest): string => {
  const a = actorOf(req);
  return a.kind === 'key' ? a.user_id : 'agent';
};

export const params = <T extends string>(req: FastifyRequest) => req.params as Record<T, string>;
export const query = <T>(req: FastifyRequest) => req.query as T;
export const body = <T>(req: FastifyRequest) => req.body as T;

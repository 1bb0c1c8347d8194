import type { Role } from '../../../shared/api-types.js';
import { body, params, userOf, type ApiDeps, type Handlers } from './types.js';

export function keyRoutes({ keys }: ApiDeps): Handlers {
  return {
    listApiKeys: () => keys.list(),
    createApiKey: async (req, reply) => {
      const b = body<{ user_id: string; role: Role }>(req);
      return reply.code(201).send(await keys.create(b.user_id, b.role, userOf(req)));
    },
    revokeApiKey: async (req, reply) => {
      await keys.revoke(params<'keyId'>(req).keyId, userOf(req));
      return reply.code(204).send();
    },
  };
}

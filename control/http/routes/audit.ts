import type { AuditCheckpoint, AuditQuery } from '../../store/types.js';
import { validationError } from '../../../shared/errors.js';
import { commitAndAnnounce } from '../../services/actor.js';
import { body, query, userOf, type ApiDeps, type Handlers } from './types.js';

export function auditRoutes({ ctx }: ApiDeps): Handlers {
  return {
    listAuditEvents: (req) => {
      const q = query<AuditQuery>(req);
      const { events, total } = ctx.store.auditEvents(q);
      return { events, total, limit: q.limit, offset: q.offset };
    },
    verifyAuditChain: async (req) => {
      const b = body<{ checkpoint?: AuditCheckpoint; root_hash?: string; total_events?: number } | undefined>(req) ?? {};
      if ((b.root_hash === undefined) !== (b.total_events === undefined)) {
        throw validationError('body: a flat checkpoint needs both root_hash and total_events');
      }
      const checkpoint =
        b.checkpoint ?? (b.root_hash !== undefined && b.total_events !== undefined ? { root_hash: b.root_hash, total_events: b.total_events } : undefined);
      const result = await ctx.store.verifyAudit(checkpoint);
      await commitAndAnnounce(ctx.store, ctx.events, [], [
        {
          event_type: 'audit_verified',
          user_id: userOf(req),
          resource: 'audit',
          action: 'verify',
          success: result.valid && result.checkpoint_valid !== false,
          metadata: { total_events: result.total_events, first_tampered: result.first_tampered ?? null, checkpoint_valid: result.checkpoint_valid ?? null },
        },
      ]);
      return result;
    },
    getAuditChainRoot: () => ctx.store.auditRoot(),
  };
}

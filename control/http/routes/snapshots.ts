/** Content-addressed snapshots: PUT streams and verifies, HEAD checks, GET serves agents and admins. */
import { notFound } from '../../../shared/errors.js';
import { commitAndAnnounce } from '../../services/actor.js';
import { actorOf, params, type ApiDeps, type Handlers } from './types.js';

export function snapshotRoutes({ ctx }: ApiDeps): Handlers {
  return {
    uploadSnapshot: async (req, reply) => {
      const sha = params<'sha256'>(req).sha256;
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > ctx.config.maxSnapshotBytes) {
        reply.header('connection', 'close');
        return reply.code(413).send({ error: `snapshot larger than ${ctx.config.maxSnapshotBytes} bytes`, code: 'BAD_REQUEST', trace_id: String(req.id) });
      }
      const outcome = await ctx.snapshots.put(sha, req.raw, ctx.config.maxSnapshotBytes).catch((err: unknown) => {
        // The rest of an over-long or mismatched body is not read: close the connection after answering.
        reply.header('connection', 'close');
        throw err;
      });
      return reply.code(outcome === 'created' ? 201 : 200).send();
    },
    headSnapshot: async (req, reply) => {
      const ok = await ctx.snapshots.has(params<'sha256'>(req).sha256);
      return reply.code(ok ? 200 : 404).send();
    },
    downloadSnapshot: async (req, reply) => {
      const sha = params<'sha256'>(req).sha256;
      const blob = await ctx.snapshots.open(sha);
      if (!blob) throw notFound('Snapshot');
      const actor = actorOf(req);
      await commitAndAnnounce(ctx.store, ctx.events, [], [
        {
          event_type: 'file_access',
          user_id: actor.kind === 'key' ? actor.user_id : 'agent',
          resource: `snapshot:${sha}`,
          action: 'download',
          success: true,
          ...(actor.ip ? { ip_address: actor.ip } : {}),
        },
      ]);
      return reply.type('application/octet-stream').header('content-length', blob.size).send(blob.stream);
    },
  };
}

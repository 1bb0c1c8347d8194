/**
 * Authentication, roles and rate limits, run for every route before its body is parsed:
 * X-API-Key (or `api_key` in the query for streams), agent Bearer token where the spec allows it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ControlContext } from '../context.js';
import { commitAndAnnounce, type Actor } from '../services/actor.js';
import type { KeyService } from '../services/keys.js';
import { sendError } from './error-handler.js';
import { rateLimitHeaders, TokenBuckets } from './rate-limit.js';
import type { Role } from './spec.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor?: Actor;
  }
  interface FastifyContextConfig {
    role?: Role;
    operationId?: string;
  }
}

/** Operations that browsers reach with EventSource (no custom headers): key allowed in the query. */
const QUERY_KEY_OPS = new Set(['streamSchedulerStatus', 'streamJob', 'getTaskLogs']);

const sameSecret = (a: string, b: string) => {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
};

export interface Authenticator {
  keyBuckets: TokenBuckets;
  failBuckets: TokenBuckets;
  /** Resolves the caller from headers/query; undefined when no valid credential was presented. */
  identify(headers: Record<string, string | string[] | undefined>, query: Record<string, unknown>, allowQuery: boolean, allowAgent: boolean, ip: string): Actor | undefined;
  /** Records a failed authentication (audit) unless the address is already over its limit; false when it is. */
  failed(ip: string, reason: string, resource: string): Promise<{ limited: boolean; headers: Record<string, string> }>;
  /** Takes a token from the key's bucket. */
  take(actor: Actor): { allowed: boolean; headers: Record<string, string> };
}

export function createAuthenticator(ctx: ControlContext, keys: KeyService, agentToken: string): Authenticator {
  const now = () => ctx.clock.now();
  const keyBuckets = new TokenBuckets(ctx.config.rateLimitRps, ctx.config.rateLimitBurst, now);
  const failBuckets = new TokenBuckets(ctx.config.authFailRps, ctx.config.authFailBurst, now);
  const keyPolicy = { rps: ctx.config.rateLimitRps, burst: ctx.config.rateLimitBurst };
  const failPolicy = { rps: ctx.config.authFailRps, burst: ctx.config.authFailBurst };
  return {
    keyBuckets,
    failBuckets,
    identify(headers, query, allowQuery, allowAgent, ip) {
      const header = headers['x-api-key'];
      const fromQuery = allowQuery && typeof query.api_key === 'string' ? query.api_key : undefined;
      const key = typeof header === 'string' ? header : fromQuery;
      if (key) {
        const k = keys.authenticate(key);
        return k ? { kind: 'key', key_id: k.id, user_id: k.user_id, role: k.role, ip } : undefined;
      }
      const auth = headers.authorization;
      if (allowAgent && typeof auth === 'string' && auth.startsWith('Bearer ')) {
        return sameSecret(auth.slice(7), agentToken) ? { kind: 'agent', ip } : undefined;
      }
      return undefined;
    },
    async failed(ip, reason, resource) {
      const v = failBuckets.take(`ip:${ip}`);
      const headers = rateLimitHeaders('auth-failures', failPolicy, v);
      if (!v.allowed) return { limited: true, headers };
      await commitAndAnnounce(ctx.store, ctx.events, [], [
        { event_type: 'auth_attempt', success: false, ip_address: ip, resource, action: 'authenticate', error: reason },
      ]).catch((err: unknown) => ctx.logger.error({ err }, 'could not audit a failed authentication'));
      return { limited: false, headers };
    },
    take(actor) {
      const id = actor.kind === 'key' ? `key:${actor.key_id}` : 'agent';
      const v = keyBuckets.take(id);
      return { allowed: v.allowed, headers: rateLimitHeaders('per-key', keyPolicy, v) };
    },
  };
}

/** The onRequest hook: trace id header, then auth, role and rate limit per the route's spec role. */
export function authHook(auth: Authenticator) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('X-Trace-Id', String(req.id));
    const role = req.routeOptions.config?.role;
    if (role === undefined || role === 'open') return;
    const opId = req.routeOptions.config?.operationId ?? '';
    const actor = auth.identify(req.headers, (req.query ?? {}) as Record<string, unknown>, QUERY_KEY_OPS.has(opId), role === 'agent-or-admin', req.ip);
    if (!actor) {
      const presented = req.headers['x-api-key'] !== undefined || req.headers.authorization !== undefined;
      const { limited, headers } = await auth.failed(req.ip, presented ? 'invalid credential' : 'missing credential', `${req.method} ${req.routeOptions.url ?? ''}`);
      if (limited) {
        reply.headers(headers);
        return sendError(req, reply, 'RATE_LIMITED', 'Too many failed authentication attempts');
      }
      return sendError(req, reply, 'UNAUTHORIZED', 'Invalid or missing API key');
    }
    const limit = auth.take(actor);
    reply.headers(limit.headers);
    if (!limit.allowed) return sendError(req, reply, 'RATE_LIMITED', 'Rate limit exceeded');
    if (role === 'admin' && !(actor.kind === 'key' && actor.role === 'admin')) return sendError(req, reply, 'FORBIDDEN', 'Admin role required');
    if (role === 'agent-or-admin' && actor.kind === 'key' && actor.role !== 'admin') return sendError(req, reply, 'FORBIDDEN', 'Admin role or agent token required');
    if (role === 'user' && actor.kind !== 'key') return sendError(req, reply, 'FORBIDDEN', 'API key required');
    req.actor = actor;
  };
}

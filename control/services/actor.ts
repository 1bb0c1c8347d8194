/** Who is calling: a user or admin API key, or an agent (token). */
import type { AuditEventDraft, Role } from '../../shared/api-types.js';
import type { ControlEvents } from '../context.js';
import type { Mutation, Store } from '../store/types.js';

export type Actor = { kind: 'key'; key_id: string; user_id: string; role: Role; ip?: string } | { kind: 'agent'; ip?: string };

export const isAdmin = (a: Actor | undefined): boolean => a?.kind === 'key' && a.role === 'admin';
export const actorUser = (a: Actor | undefined): string | undefined => (a?.kind === 'key' ? a.user_id : a ? 'agent' : undefined);
/** A user sees what they own; admins see everything. */
export const canSee = (a: Actor | undefined, owner: string | undefined): boolean =>
  isAdmin(a) || (a?.kind === 'key' && owner !== undefined && a.user_id === owner);

/** Commits durably, then tells the event bus about the audit events the store chained. */
export async function commitAndAnnounce(
  store: Store,
  events: ControlEvents,
  mutations: readonly Mutation[],
  drafts: readonly AuditEventDraft[] = [],
) {
  const chained = await store.commit(mutations, drafts);
  for (const e of chained) events.emit('audit', e);
  return chained;
}

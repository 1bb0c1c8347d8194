/** API keys: random 256-bit keys, stored only as sha256, checked in constant time. */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ApiKeyView, AuditEventDraft, Role } from '../../shared/api-types.js';
import { conflict, notFound } from '../../shared/errors.js';
import { iso, type Clock } from '../../shared/time.js';
import type { ControlEvents } from '../context.js';
import type { Store, StoredKey } from '../store/types.js';
import { commitAndAnnounce } from './actor.js';

export const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest();
export const newSecret = (prefix: string) => `${prefix}_${randomBytes(32).toString('base64url')}`;

const view = (k: StoredKey): ApiKeyView => ({ id: k.id, user_id: k.user_id, role: k.role, created_at: k.created_at });

export function createKeyService(deps: { store: Store; events: ControlEvents; clock: Clock }) {
  const { store, events, clock } = deps;

  const insert = async (user_id: string, role: Role, key: string, by: string | undefined, bootstrap = false) => {
    const stored: StoredKey = {
      id: randomUUID(),
      user_id,
      role,
      created_at: iso(clock.now()),
      key_hash: hashKey(key).toString('hex'),
      ...(bootstrap ? { bootstrap: true } : {}),
    };
    const audit: AuditEventDraft = {
      event_type: 'key_created',
      user_id: by ?? 'system',
      resource: `key:${stored.id}`,
      action: 'create',
      success: true,
      metadata: { key_user_id: user_id, role },
    };
    await commitAndAnnounce(store, events, [{ op: 'put', coll: 'keys', value: stored }], [audit]);
    return stored;
  };

  return {
    /** The key whose hash matches, compared in constant time against every stored hash. */
    authenticate(presented: string): StoredKey | undefined {
      if (!presented || presented.length > 512) return undefined;
      const h = hashKey(presented);
      let found: StoredKey | undefined;
      for (const k of store.values('keys')) {
        const stored = Buffer.from(k.key_hash, 'hex');
        if (stored.length === h.length && timingSafeEqual(stored, h)) found = k;
      }
      return found;
    },
    async create(user_id: string, role: Role, by?: string): Promise<ApiKeyView & { key: string }> {
      const key = newSecret('fml');
      const stored = await insert(user_id, role, key, by);
      return { ...view(stored), key };
    },
    list: (): ApiKeyView[] => [...store.values('keys')].map(view),
    async revoke(id: string, by: string) {
      const k = store.get('keys', id);
      if (!k) throw notFound('API key');
      const admins = [...store.values('keys')].filter((x) => x.role === 'admin');
      if (k.role === 'admin' && admins.length === 1) throw conflict('Cannot revoke the last admin key');
      await commitAndAnnounce(
        store,
        events,
        [{ op: 'delete', coll: 'keys', id }],
        [{ event_type: 'key_revoked', user_id: by, resource: `key:${id}`, action: 'revoke', success: true, metadata: { key_user_id: k.user_id } }],
      );
    },
    /**
     * FETCHML_ADMIN_KEY: ensures an admin key with exactly that value. Otherwise, when no admin key
     * exists yet, creates one and returns it (the caller prints it once and stores it 0600).
     */
    async bootstrapAdmin(envKey: string | undefined): Promise<string | undefined> {
      if (envKey) {
        const existing = this.authenticate(envKey);
        if (existing?.role === 'admin') return undefined;
        await insert('admin', 'admin', envKey, undefined, true);
        return undefined;
      }
      if ([...store.values('keys')].some((k) => k.role === 'admin')) return undefined;
      const key = newSecret('fml');
      await insert('admin', 'admin', key, undefined, true);
      return key;
    },
  };
}
export type KeyService = ReturnType<typeof createKeyService>;

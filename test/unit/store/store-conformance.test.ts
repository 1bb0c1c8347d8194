/** One behaviour, two stores: every test here runs against the memory store and the journal store. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventDraft } from '../../../shared/api-types.js';
import type { Clock } from '../../../shared/time.js';
import { GENESIS_HASH, hashAuditEvent } from '../../../control/audit/chain.js';
import { createMemoryStore } from '../../../control/store/memory-store.js';
import { openJournalStore } from '../../../control/store/journal-store.js';
import type { MetaRecord, Store } from '../../../control/store/types.js';

type Factory = (clock: Clock) => Promise<{ store: Store; done(): Promise<void> }>;

const factories: Record<string, Factory> = {
  memory: async (clock) => {
    const store = createMemoryStore({ clock });
    return { store, done: () => store.close() };
  },
  journal: async (clock) => {
    const dir = await mkdtemp(join(tmpdir(), 'fetchml-store-'));
    const store = await openJournalStore({ dataDir: dir, clock });
    return {
      store,
      done: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

const meta = (id: string, value: unknown): MetaRecord => ({ id, value });
const put = (r: MetaRecord) => ({ op: 'put' as const, coll: 'meta' as const, value: r });

for (const [name, factory] of Object.entries(factories)) {
  describe(`store conformance: ${name}`, () => {
    const clock = { t: Date.parse('2030-01-01T00:00:00Z'), now() { return this.t; } };
    const withStore = async (fn: (s: Store) => Promise<void>) => {
      clock.t = Date.parse('2030-01-01T00:00:00Z');
      const { store, done } = await factory(clock);
      try {
        await fn(store);
      } finally {
        await done();
      }
    };

    test('put, get, overwrite keeps position, delete, values order and count', () =>
      withStore(async (s) => {
        assert.equal(s.get('meta', 'a'), undefined);
        await s.commit([put(meta('a', 1)), put(meta('b', 2))]);
        await s.commit([put(meta('c', 3))]);
        await s.commit([put(meta('a', 10))]);
        assert.deepEqual(s.get('meta', 'a'), meta('a', 10));
        assert.deepEqual([...s.values('meta')].map((r) => r.id), ['a', 'b', 'c']);
        await s.commit([{ op: 'delete', coll: 'meta', id: 'b' }, { op: 'delete', coll: 'meta', id: 'nope' }]);
        assert.equal(s.count('meta'), 2);
        assert.equal(s.count('tasks'), 0);
        assert.deepEqual([...s.values('meta')].map((r) => r.id), ['a', 'c']);
      }));

    test('malformed commits are rejected and change nothing', () =>
      withStore(async (s) => {
        await assert.rejects(s.commit([put(meta('ok', 1)), { op: 'put', coll: 'nope', value: { id: 'x' } } as never]));
        await assert.rejects(s.commit([{ op: 'put', coll: 'meta', value: { value: 1 } } as never]));
        await assert.rejects(s.commit([], [{ event_type: 'not_a_type', success: true } as never]));
        await assert.rejects(s.commit([put(meta('big', 1n))]));
        await assert.rejects(s.commit([put(meta('m', 1))], [{ event_type: 'job_queued', success: true, metadata: { n: 2n } }]));
        assert.equal(s.count('meta'), 0);
        assert.equal(s.auditRoot().total_events, 0);
        await s.commit([put(meta('after', 1))]);
        assert.equal(s.count('meta'), 1);
      }));

    test('commit returns audit events chained from genesis', () =>
      withStore(async (s) => {
        const drafts: AuditEventDraft[] = [
          { event_type: 'job_queued', success: true, user_id: 'alice', resource: 'task-1', metadata: { n: 1 } },
          { event_type: 'auth_attempt', success: false, ip_address: '127.0.0.1', error: 'bad key' },
        ];
        const first = await s.commit([put(meta('x', 1))], drafts);
        const [more] = await s.commit([], [{ event_type: 'job_started', success: true, user_id: 'bob' }]);
        const all = [...first, more!];
        assert.deepEqual(all.map((e) => e.sequence_num), [1, 2, 3]);
        assert.equal(all[0]!.prev_hash, GENESIS_HASH);
        assert.equal(all[1]!.prev_hash, all[0]!.event_hash);
        assert.equal(all[2]!.prev_hash, all[1]!.event_hash);
        for (const e of all) assert.equal(e.event_hash, hashAuditEvent(e));
        assert.equal(all[0]!.timestamp, '2030-01-01T00:00:00.000Z');
        assert.deepEqual(s.auditRoot(), { root_hash: all[2]!.event_hash, total_events: 3, timestamp: '2030-01-01T00:00:00.000Z' });
      }));

    test('audit queries: time range, type, user, limit and offset', () =>
      withStore(async (s) => {
        for (let i = 0; i < 10; i++) {
          clock.t = Date.parse('2030-01-01T00:00:00Z') + i * 60_000;
          await s.commit([], [{ event_type: i % 2 ? 'job_started' : 'job_queued', success: true, user_id: i < 5 ? 'alice' : 'bob' }]);
        }
        const seqs = (r: { events: { sequence_num: number }[] }) => r.events.map((e) => e.sequence_num);
        const all = s.auditEvents({ limit: 100, offset: 0 });
        assert.equal(all.total, 10);
        assert.deepEqual(seqs(all), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert.deepEqual(seqs(s.auditEvents({ event_type: 'job_started', limit: 100, offset: 0 })), [2, 4, 6, 8, 10]);
        assert.deepEqual(seqs(s.auditEvents({ user_id: 'bob', event_type: 'job_queued', limit: 100, offset: 0 })), [7, 9]);
        const range = s.auditEvents({ from: '2030-01-01T00:02:00Z', to: '2030-01-01T00:04:00Z', limit: 100, offset: 0 });
        assert.deepEqual(seqs(range), [3, 4, 5]);
        const page = s.auditEvents({ limit: 3, offset: 4 });
        assert.deepEqual(seqs(page), [5, 6, 7]);
        assert.equal(page.total, 10);
        assert.deepEqual(s.auditEvents({ from: 'garbage', limit: 10, offset: 0 }), { events: [], total: 0 });
        assert.equal(s.auditEvents({ user_id: 'nobody', limit: 10, offset: 0 }).total, 0);
      }));

    test('verify: a sound chain is valid, also against a checkpoint it extends', () =>
      withStore(async (s) => {
        assert.equal((await s.verifyAudit()).valid, true);
        await s.commit([], [{ event_type: 'job_queued', success: true, metadata: { nested: { a: [1, 'two'] } } }]);
        const cp = s.auditRoot();
        await s.commit([], [{ event_type: 'job_completed', success: true }]);
        const r = await s.verifyAudit({ root_hash: cp.root_hash, total_events: cp.total_events });
        assert.equal(r.valid, true);
        assert.equal(r.checkpoint_valid, true);
        assert.equal(r.total_events, 2);
        assert.equal(r.chain_root_hash, s.auditRoot().root_hash);
        const bad = await s.verifyAudit({ root_hash: 'f'.repeat(64), total_events: 1 });
        assert.equal(bad.valid, false);
        assert.equal(bad.checkpoint_valid, false);
      }));

    test('commits after close are refused', async () => {
      const { store, done } = await factory(clock);
      await done();
      await assert.rejects(store.commit([put(meta('late', 1))]));
    });
  });
}

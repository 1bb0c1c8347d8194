/**
 * The journal store with bounded audit memory (FETCHML_AUDIT_MEMORY_EVENTS): events beyond the
 * window come from audit.jsonl, totals stay exact, a restart answers the same, events re-appended
 * from the journal are indexed, and events not yet on disk are always served from memory.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, AuditEventDraft } from '../../../shared/api-types.js';
import { auditMemoryEvents, loadConfig } from '../../../control/config.js';
import { parseAuditLines } from '../../../control/audit/chain.js';
import { queryAuditEvents } from '../../../control/audit/query.js';
import { openJournalStore } from '../../../control/store/journal-store.js';
import type { AuditQuery, Store } from '../../../control/store/types.js';

const T0 = Date.parse('2025-06-01T00:00:00.000Z');

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-audit-window-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A clock that moves one minute per reading. */
function steppingClock() {
  let t = T0;
  return { now: () => (t += 60_000) };
}

const draft = (i: number): AuditEventDraft => ({
  event_type: (['job_queued', 'job_started', 'job_completed'] as const)[i % 3]!,
  success: i % 5 !== 0,
  user_id: `user-${i % 4}`,
  resource: `r${String(i).padStart(3, '0')}`,
});

async function fileEvents(dir: string): Promise<AuditEvent[]> {
  return parseAuditLines(await readFile(join(dir, 'audit.jsonl'), 'utf8')).flatMap((l) => ('event' in l ? [l.event] : []));
}

const QUERIES: AuditQuery[] = [
  { limit: 10, offset: 0 },
  { limit: 7, offset: 3 },
  { limit: 1000, offset: 0, user_id: 'user-2' },
  { limit: 4, offset: 9, event_type: 'job_started' },
  { limit: 5, offset: 2, from: new Date(T0 + 10 * 60_000).toISOString(), to: new Date(T0 + 30 * 60_000).toISOString() },
  { limit: 50, offset: 55 },
  { limit: 10, offset: 0, user_id: 'nobody' },
];

async function assertAnswersLikeTheFile(store: Store, dir: string): Promise<void> {
  const all = await fileEvents(dir);
  for (const q of QUERIES) assert.deepEqual(store.auditEvents(q), queryAuditEvents(all, q), JSON.stringify(q));
}

describe('journal store with a bounded audit window', () => {
  test('pages beyond the window are read from audit.jsonl; totals exact; a restart answers the same', () =>
    withDir(async (dir) => {
      const store = await openJournalStore({ dataDir: dir, clock: steppingClock(), auditMemoryEvents: 5 });
      for (let i = 0; i < 60; i++) await store.commit([], [draft(i)]);
      await store.verifyAudit(); // waits until the audit lines are fsync'd: the window may shrink
      await assertAnswersLikeTheFile(store, dir);
      assert.equal(store.auditEvents({ limit: 0, offset: 0 }).total, 60);
      const root = store.auditRoot();
      await store.close();

      const again = await openJournalStore({ dataDir: dir, auditMemoryEvents: 5 });
      try {
        assert.equal(again.auditRoot().root_hash, root.root_hash);
        assert.equal(again.auditRoot().total_events, 60);
        await assertAnswersLikeTheFile(again, dir);
        // Old events really come from the file: an in-place edit of an old line shows in its page
        // (and verify names it), the newest events stay as chained.
        const text = await readFile(join(dir, 'audit.jsonl'), 'utf8');
        await writeFile(join(dir, 'audit.jsonl'), text.replace('"resource":"r003"', '"resource":"X003"'));
        assert.equal(again.auditEvents({ limit: 1, offset: 3 }).events[0]!.resource, 'X003');
        assert.equal(again.auditEvents({ limit: 1, offset: 59 }).events[0]!.resource, 'r059');
        assert.equal((await again.verifyAudit()).first_tampered, 4);
        const [next] = await again.commit([], [draft(60)]);
        assert.equal(next!.sequence_num, 61);
        assert.equal(again.auditEvents({ limit: 10, offset: 60 }).events[0]!.event_hash, next!.event_hash);
      } finally {
        await again.close();
      }
    }));

  test('events not yet written are served from memory even with a window of 0', () =>
    withDir(async (dir) => {
      const store = await openJournalStore({ dataDir: dir, auditMemoryEvents: 0 });
      try {
        const commits = Array.from({ length: 50 }, (_, i) => store.commit([], [draft(i), draft(i + 1)]));
        // Nothing is on disk yet (the writer runs on the next tick): the window holds them all.
        const early = store.auditEvents({ limit: 1000, offset: 0 });
        assert.equal(early.total, 100);
        assert.deepEqual(early.events.map((e) => e.sequence_num), Array.from({ length: 100 }, (_, i) => i + 1));
        await Promise.all(commits);
        await store.verifyAudit();
        const late = store.auditEvents({ limit: 1000, offset: 0 });
        assert.deepEqual(late, { events: await fileEvents(dir), total: 100 });
        assert.deepEqual(late.events, early.events.map((e) => JSON.parse(JSON.stringify(e))));
      } finally {
        await store.close();
      }
    }));

  test('events only the journal holds are re-appended and indexed at the right offsets', () =>
    withDir(async (dir) => {
      const s = await openJournalStore({ dataDir: dir, auditMemoryEvents: 2 });
      for (let i = 0; i < 12; i++) await s.commit([], [draft(i)]);
      // Left without close(): no closing snapshot, the journal still holds every event.
      const file = join(dir, 'audit.jsonl');
      const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
      await writeFile(file, lines.slice(0, 8).join('\n') + '\n' + lines[8]!.slice(0, 25));
      const again = await openJournalStore({ dataDir: dir, auditMemoryEvents: 0 });
      try {
        assert.deepEqual((await readFile(file, 'utf8')).trimEnd().split('\n'), lines);
        await assertAnswersLikeTheFile(again, dir);
        assert.deepEqual(
          again.auditEvents({ limit: 4, offset: 8 }).events.map((e) => e.resource),
          ['r008', 'r009', 'r010', 'r011'],
        );
        assert.equal((await again.verifyAudit()).valid, true);
      } finally {
        await again.close();
      }
    }));
});

describe('FETCHML_AUDIT_MEMORY_EVENTS', () => {
  test('whole numbers from 0 are taken; unset means 100,000', () => {
    assert.equal(auditMemoryEvents(undefined), 100_000);
    assert.equal(auditMemoryEvents(''), 100_000);
    assert.equal(auditMemoryEvents('0'), 0);
    assert.equal(auditMemoryEvents(' 250000 '), 250_000);
    assert.equal(loadConfig({ FETCHML_AUDIT_MEMORY_EVENTS: '12' }).auditMemoryEvents, 12);
    assert.equal(loadConfig({}).auditMemoryEvents, 100_000);
  });

  for (const bad of ['-1', '1.5', 'lots', '1e5', '0x10', '100000001', '99999999999999999999']) {
    test(`${JSON.stringify(bad)} is refused, naming the variable`, () => {
      assert.throws(() => loadConfig({ FETCHML_AUDIT_MEMORY_EVENTS: bad }), /FETCHML_AUDIT_MEMORY_EVENTS must be a whole number/);
    });
  }
});

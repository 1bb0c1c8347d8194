/**
 * Tampering with a real audit.jsonl written by the journal store: verify names the exact sequence
 * number (or the broken checkpoint), and the store still opens (with a warning) and continues.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openJournalStore } from '../../../control/store/journal-store.js';
import type { AuditCheckpoint, Store } from '../../../control/store/types.js';

const EVENTS = 10;

async function writtenLog(): Promise<{ dir: string; file: string; lines: string[]; checkpoint: AuditCheckpoint }> {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-audit-'));
  const store = await openJournalStore({ dataDir: dir });
  for (let i = 1; i <= EVENTS; i++) {
    await store.commit([], [{ event_type: 'job_queued', success: true, user_id: `user-${i}`, resource: `task-${i}` }]);
  }
  const root = store.auditRoot();
  await store.close();
  const file = join(dir, 'audit.jsonl');
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  assert.equal(lines.length, EVENTS);
  return { dir, file, lines, checkpoint: { root_hash: root.root_hash, total_events: root.total_events } };
}

/** Reopens the store over the tampered file, capturing its warnings. */
async function reopen(dir: string): Promise<{ store: Store; warnings: string[] }> {
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void warnings.push(s) });
  const store = await openJournalStore({ dataDir: dir, logger });
  return { store, warnings };
}

async function tamper(edit: (lines: string[]) => string[], checkpoint = false) {
  const log = await writtenLog();
  try {
    await writeFile(log.file, edit([...log.lines]).join('\n') + '\n');
    const { store, warnings } = await reopen(log.dir);
    try {
      const result = await store.verifyAudit(checkpoint ? log.checkpoint : undefined);
      return { result, warnings, store, log };
    } finally {
      await store.close();
    }
  } finally {
    await rm(log.dir, { recursive: true, force: true });
  }
}

describe('audit log tampering', () => {
  test('untouched log verifies, with and without its checkpoint', async () => {
    const { result, warnings } = await tamper((l) => l, true);
    assert.equal(result.valid, true);
    assert.equal(result.checkpoint_valid, true);
    assert.equal(result.total_events, EVENTS);
    assert.equal(result.first_tampered, undefined);
    assert.deepEqual(warnings, []);
  });

  for (const k of [1, 4, EVENTS]) {
    test(`one changed field of event ${k} → ${k}`, async () => {
      const { result } = await tamper((l) => {
        const e = JSON.parse(l[k - 1]!);
        e.user_id = 'mallory';
        l[k - 1] = JSON.stringify(e);
        return l;
      });
      assert.equal(result.valid, false);
      assert.equal(result.first_tampered, k);
    });
  }

  test('a deleted event → the sequence number where the gap shows', async () => {
    const { result, warnings } = await tamper((l) => l.filter((_, i) => i !== 5)); // event 6
    assert.equal(result.valid, false);
    assert.equal(result.first_tampered, 6);
    assert.match(warnings.join(''), /chain breaks at sequence 6/);
  });

  test('two swapped events → the first of them', async () => {
    const { result } = await tamper((l) => {
      [l[2], l[3]] = [l[3]!, l[2]!]; // events 3 and 4
      return l;
    });
    assert.equal(result.first_tampered, 3);
  });

  test('an unparsable line → its sequence number; the store still opens', async () => {
    const { result, warnings } = await tamper((l) => {
      l[6] = '{"this is": not json';
      return l;
    });
    assert.equal(result.first_tampered, 7);
    assert.match(warnings.join(''), /unreadable line where sequence 7/);
  });

  test('tail truncation: invisible without a checkpoint, caught with one', async () => {
    const bare = await tamper((l) => l.slice(0, 7));
    assert.equal(bare.result.valid, true);
    assert.equal(bare.result.total_events, 7);
    const withCp = await tamper((l) => l.slice(0, 7), true);
    assert.equal(withCp.result.valid, false);
    assert.equal(withCp.result.checkpoint_valid, false);
    assert.equal(withCp.result.first_tampered, 8);
    assert.match(withCp.result.reason ?? '', /truncated/);
  });

  test('whole-chain rewrite (consistent, re-hashed) is caught only by a checkpoint', async () => {
    // Build a different but internally valid chain in another store, put it in place.
    const other = await writtenLogWithUser('forger');
    const rewrite = await tamper(() => other, true);
    assert.equal(rewrite.result.valid, false);
    assert.equal(rewrite.result.checkpoint_valid, false);
    assert.match(rewrite.result.reason ?? '', /rewritten/);
  });

  test('after tampering the store keeps appending, chaining from the last line', async () => {
    const log = await writtenLog();
    try {
      await writeFile(log.file, log.lines.slice(0, 5).join('\n') + '\n');
      const { store } = await reopen(log.dir);
      const [e] = await store.commit([], [{ event_type: 'job_started', success: true }]);
      assert.equal(e!.sequence_num, 6);
      assert.equal(e!.prev_hash, JSON.parse(log.lines[4]!).event_hash);
      assert.equal((await store.verifyAudit()).valid, true);
      await store.close();
    } finally {
      await rm(log.dir, { recursive: true, force: true });
    }
  });
});

async function writtenLogWithUser(user: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-audit-'));
  try {
    const store = await openJournalStore({ dataDir: dir });
    for (let i = 1; i <= EVENTS; i++) await store.commit([], [{ event_type: 'job_queued', success: true, user_id: user }]);
    await store.close();
    return (await readFile(join(dir, 'audit.jsonl'), 'utf8')).trimEnd().split('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

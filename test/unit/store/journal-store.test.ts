/** The journal store on real files: reopen, torn and corrupt journals, snapshots, audit recovery. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openJournalStore } from '../../../control/store/journal-store.js';
import { encodeRecordJson, HEADER_BYTES } from '../../../control/store/journal-format.js';
import { JournalWriter } from '../../../control/store/journal-writer.js';
import { spawn } from 'node:child_process';
import type { MetaRecord, Store } from '../../../control/store/types.js';

const put = (id: string, value: unknown) => ({ op: 'put' as const, coll: 'meta' as const, value: { id, value } as MetaRecord });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-journal-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function capture() {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) }) };
}

const segments = async (dir: string) => (await readdir(dir)).filter((n) => n.startsWith('journal-')).sort();

/** Writes n records and leaves without close(), like a process that died after its acks. */
async function writeAndAbandon(dir: string, n: number, opts: { snapshotEveryRecords?: number } = {}): Promise<Store> {
  const s = await openJournalStore({ dataDir: dir, ...opts });
  for (let i = 0; i < n; i++) await s.commit([put(`r${i}`, { i })], [{ event_type: 'job_queued', success: true, resource: `r${i}` }]);
  return s; // not closed: journal only, no closing snapshot
}

describe('journal store', () => {
  test('reopen after close keeps records, order and audit chain', () =>
    withDir(async (dir) => {
      const s = await writeAndAbandon(dir, 20);
      await s.commit([{ op: 'delete', coll: 'meta', id: 'r3' }]);
      const root = s.auditRoot();
      await s.close();
      const again = await openJournalStore({ dataDir: dir });
      assert.equal(again.count('meta'), 19);
      assert.deepEqual(again.get('meta', 'r7'), { id: 'r7', value: { i: 7 } });
      assert.deepEqual([...again.values('meta')].slice(0, 4).map((r) => r.id), ['r0', 'r1', 'r2', 'r4']);
      assert.deepEqual(again.auditRoot().root_hash, root.root_hash);
      const [next] = await again.commit([], [{ event_type: 'job_started', success: true }]);
      assert.equal(next!.sequence_num, 21);
      assert.equal((await again.verifyAudit()).valid, true);
      await again.close();
    }));

  test('replay from the journal alone (no snapshot, process died)', () =>
    withDir(async (dir) => {
      await writeAndAbandon(dir, 15);
      assert.deepEqual(await readdir(dir).then((n) => n.includes('snapshot.json')), false);
      const s = await openJournalStore({ dataDir: dir });
      assert.equal(s.count('meta'), 15);
      assert.equal(s.auditRoot().total_events, 15);
      await s.close();
    }));

  test('snapshot + journal replay; old segments are removed after a snapshot', () =>
    withDir(async (dir) => {
      const s = await writeAndAbandon(dir, 10, { snapshotEveryRecords: 1_000_000 });
      await s.snapshot();
      assert.deepEqual(await segments(dir), ['journal-000002.log']);
      for (let i = 10; i < 25; i++) await s.commit([put(`r${i}`, { i })], [{ event_type: 'job_queued', success: true }]);
      await s.commit([put('r0', 'changed')]);
      // Do not close: the next open must combine the snapshot with the 16 journal records.
      const snap = JSON.parse(await readFile(join(dir, 'snapshot.json'), 'utf8'));
      assert.equal(snap.journal_seq, 10);
      assert.equal(snap.collections.meta.length, 10);
      const again = await openJournalStore({ dataDir: dir });
      assert.equal(again.count('meta'), 25);
      assert.deepEqual(again.get('meta', 'r0'), { id: 'r0', value: 'changed' });
      assert.equal(again.auditRoot().total_events, 25);
      await again.close();
    }));

  test('periodic snapshots bound the journal', () =>
    withDir(async (dir) => {
      const s = await writeAndAbandon(dir, 40, { snapshotEveryRecords: 10 });
      await s.snapshot(); // waits for any periodic one in flight
      const snap = JSON.parse(await readFile(join(dir, 'snapshot.json'), 'utf8'));
      assert.equal(snap.journal_seq, 40);
      assert.equal((await segments(dir)).length, 1);
      await s.close();
      const again = await openJournalStore({ dataDir: dir });
      assert.equal(again.count('meta'), 40);
      await again.close();
    }));

  test('a torn last record is dropped with a warning, and later writes survive the next restart', () =>
    withDir(async (dir) => {
      await writeAndAbandon(dir, 5);
      const [seg] = await segments(dir);
      const file = join(dir, seg!);
      const size = (await stat(file)).size;
      await truncate(file, size - 7); // cut into the 5th record
      const { lines, logger } = capture();
      const s = await openJournalStore({ dataDir: dir, logger });
      assert.equal(s.count('meta'), 4);
      assert.equal(s.get('meta', 'r4'), undefined);
      assert.match(lines.join(''), /torn final record/);
      // audit.jsonl already had event 5 (written after the journal in the same commit): kept
      await s.commit([put('after', 1)]);
      await s.close();
      const again = await openJournalStore({ dataDir: dir });
      assert.deepEqual(again.get('meta', 'after'), { id: 'after', value: 1 });
      assert.equal(again.count('meta'), 5);
      await again.close();
    }));

  test('a zero-filled tail (crash after the size grew) counts as torn', () =>
    withDir(async (dir) => {
      await writeAndAbandon(dir, 3);
      const [seg] = await segments(dir);
      await appendFile(join(dir, seg!), Buffer.alloc(100));
      const s = await openJournalStore({ dataDir: dir });
      assert.equal(s.count('meta'), 3);
      await s.close();
    }));

  test('a corrupt middle record refuses to open, naming file and offset', () =>
    withDir(async (dir) => {
      await writeAndAbandon(dir, 5);
      const [seg] = await segments(dir);
      const file = join(dir, seg!);
      const buf = await readFile(file);
      const secondOffset = HEADER_BYTES + buf.readUInt32LE(0);
      buf[secondOffset + HEADER_BYTES + 3] = buf[secondOffset + HEADER_BYTES + 3]! ^ 0xff; // flip a byte in record 2's payload
      await writeFile(file, buf);
      await assert.rejects(openJournalStore({ dataDir: dir }), (err: Error) => {
        assert.match(err.message, new RegExp(`${seg}.*offset ${secondOffset}`));
        assert.match(err.message, /Refusing to start/);
        return true;
      });
      // and nothing was overwritten
      assert.deepEqual(await readFile(file), buf);
    }));

  test('an unparsable snapshot refuses to open', () =>
    withDir(async (dir) => {
      const s = await writeAndAbandon(dir, 3);
      await s.close();
      await writeFile(join(dir, 'snapshot.json'), '{"format": "fetchml-store-snap');
      await assert.rejects(openJournalStore({ dataDir: dir }), /snapshot\.json is unreadable/);
    }));

  test('audit events only the journal holds are re-appended to audit.jsonl at start-up', () =>
    withDir(async (dir) => {
      await writeAndAbandon(dir, 6);
      const file = join(dir, 'audit.jsonl');
      const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
      // A crash between the journal fsync and the audit append: last two lines missing, one torn.
      await writeFile(file, lines.slice(0, 4).join('\n') + '\n' + lines[4]!.slice(0, 20));
      const { lines: warnings, logger } = capture();
      const s = await openJournalStore({ dataDir: dir, logger });
      assert.match(warnings.join(''), /torn final line/);
      assert.deepEqual((await readFile(file, 'utf8')).trimEnd().split('\n'), lines);
      const r = await s.verifyAudit();
      assert.equal(r.valid, true);
      assert.equal(r.total_events, 6);
      await s.close();
    }));

  test('values JSON cannot hold are rejected without effect', () =>
    withDir(async (dir) => {
      const s = await openJournalStore({ dataDir: dir });
      await assert.rejects(s.commit([put('big', 10n)]));
      await assert.rejects(s.commit([], [{ event_type: 'job_queued', success: true, metadata: { n: 1n } }]));
      assert.equal(s.count('meta'), 0);
      assert.equal(s.auditRoot().total_events, 0);
      await s.commit([put('ok', 1)], [{ event_type: 'job_queued', success: true }]);
      await s.close();
      const again = await openJournalStore({ dataDir: dir });
      assert.equal(again.count('meta'), 1);
      await again.close();
    }));

  test('200 concurrent commits all land, chained in call order', () =>
    withDir(async (dir) => {
      const s = await openJournalStore({ dataDir: dir });
      const events = await Promise.all(
        Array.from({ length: 200 }, (_, i) => s.commit([put(`c${i}`, i)], [{ event_type: 'job_queued', success: true }])),
      );
      assert.deepEqual(events.map((e) => e[0]!.sequence_num), Array.from({ length: 200 }, (_, i) => i + 1));
      assert.equal((await s.verifyAudit()).valid, true);
      await s.close();
    }));

  test('group commit: concurrent appends share write+fsync rounds', () =>
    withDir(async (dir) => {
      const w = await JournalWriter.open(dir, 1, join(dir, 'audit.jsonl'), 0);
      await Promise.all(Array.from({ length: 100 }, (_, i) => w.append(encodeRecordJson(`{"seq":${i + 1},"m":[],"a":[]}`), '', i + 1)));
      assert.equal(w.durableSeq, 100);
      assert.ok(w.flushes >= 1 && w.flushes < 10, `flushes: ${w.flushes}`);
      await w.close();
    }));

  test('an acknowledged append has its audit lines written; waitDurable also covers their fsync', () =>
    withDir(async (dir) => {
      const file = join(dir, 'audit.jsonl');
      const w = await JournalWriter.open(dir, 1, file, 0);
      for (let i = 1; i <= 5; i++) {
        await w.append(encodeRecordJson(`{"seq":${i},"m":[],"a":[]}`), `{"line":${i}}\n`, i);
        // Acknowledged: the journal record is fsync'd and the audit line is in the file already.
        assert.equal((await readFile(file, 'utf8')).trimEnd().split('\n').length, i);
        assert.equal(w.durableSeq, i);
      }
      await w.waitDurable(5);
      assert.equal(w.auditDurableSeq, 5);
      await w.close();
    }));

  test('a data dir held by another live process is refused; a stale lock is taken over', () =>
    withDir(async (dir) => {
      const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      try {
        await writeFile(join(dir, 'store.lock'), `${other.pid}\n`);
        await assert.rejects(openJournalStore({ dataDir: dir }), /in use by another fetchml process \(pid \d+\)/);
      } finally {
        other.kill('SIGKILL');
        await new Promise((r) => (other.exitCode !== null || other.signalCode !== null ? r(null) : other.once('exit', r)));
      }
      const s = await openJournalStore({ dataDir: dir });
      await s.commit([put('a', 1)]);
      await s.close();
      assert.equal((await readdir(dir)).includes('store.lock'), false);
    }));
});

/**
 * Start-up in one pass: the scan parses the lines that end up in the memory window on its way
 * (audit-file-scan.ts keepLast), starting where its line-count estimate says the window begins, and
 * openFileAuditHistory reads back only what the estimate missed. Whatever the estimate does, the
 * history must be the one the scanner-only path gives: same warnings, index, head, window, answers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import type { AuditEvent } from '../../../shared/api-types.js';
import { auditLines } from '../../../control/audit/audit-file.js';
import { scanAuditFile } from '../../../control/audit/audit-file-scan.js';
import { parseAuditLines } from '../../../control/audit/chain.js';
import { openFileAuditHistory, type FileAuditHistory } from '../../../control/audit/file-audit-history.js';
import { queryAuditEvents } from '../../../control/audit/query.js';
import type { AuditQuery } from '../../../control/store/types.js';
import { chain, T0, withDir } from './audit-fixtures.js';

const TYPES = ['job_queued', 'job_started', 'job_completed', 'auth_attempt'] as const;
const USERS = ['alice', 'bob', 'c"q', 'üser'];

/** n events whose lines carry `pad(i)` bytes of padding. */
const events = (n: number, pad: (i: number) => number): AuditEvent[] =>
  chain(
    Array.from({ length: n }, (_, i) => ({
      event_type: TYPES[i % 4]!,
      success: i % 3 !== 0,
      user_id: USERS[i % 4]!,
      timestamp: new Date(T0 + i * 1000).toISOString(),
      metadata: { pad: 'x'.repeat(pad(i)) },
    })),
  );

const QUERIES: AuditQuery[] = [
  { limit: 100_000, offset: 0 },
  { limit: 30, offset: 7, user_id: 'c"q' },
  { limit: 50, offset: 3, event_type: 'job_started' },
  { limit: 20, offset: 0, from: new Date(T0 + 50_000).toISOString(), to: new Date(T0 + 90_000).toISOString() },
];

/** The window holds exactly the newest events (checked without disk reads) and every query answers as the file does. */
async function assertHistory(history: FileAuditHistory, file: string, maxWindow: number): Promise<void> {
  const all = parseAuditLines(await readFile(file, 'utf8')).flatMap((l) => ('event' in l ? [l.event] : []));
  assert.equal(history.count, all.length);
  assert.equal(history.windowSize, Math.min(maxWindow, all.length));
  const reads = history.diskReads;
  const newest = history.query({ limit: maxWindow, offset: all.length - history.windowSize });
  assert.equal(history.diskReads, reads, 'the newest events are all in memory');
  assert.deepEqual(newest.events, all.slice(all.length - history.windowSize));
  for (const q of QUERIES) assert.deepEqual(history.query(q), queryAuditEvents(all, q), JSON.stringify(q));
}

async function open(file: string, maxWindow: number, margin?: number): Promise<FileAuditHistory> {
  const { history, warnings } = await openFileAuditHistory(file, maxWindow, margin);
  assert.deepEqual(warnings, []);
  return history;
}

describe('start-up parses the window on the scan pass', () => {
  test('a log smaller than the window is read once: every line parsed by the scan, no read-back', () =>
    withDir(async (dir) => {
      const file = join(dir, 'audit.jsonl');
      await writeFile(file, auditLines(events(300, (i) => (i * 37) % 200)));
      const history = await open(file, 1000);
      try {
        assert.deepEqual(history.startup, { diskReads: 0, parsedLines: 300 });
        await assertHistory(history, file, 1000);
      } finally {
        history.close();
      }
    }));

  test('a log just larger than the window: the newest events kept, the oldest dropped, no read-back', () =>
    withDir(async (dir) => {
      const file = join(dir, 'audit.jsonl');
      await writeFile(file, auditLines(events(520, () => 50)));
      for (const [window, margin] of [
        [500, 1024],
        [500, 30],
        [519, 16],
        [1, 0],
      ] as const) {
        const history = await open(file, window, margin);
        try {
          assert.equal(history.startup.diskReads, 0, `window ${window}, margin ${margin}`);
          assert.ok(history.startup.parsedLines >= window);
          await assertHistory(history, file, window);
        } finally {
          history.close();
        }
      }
    }));

  test('short lines first, long ones at the end: the estimate starts late, the rest is read back', () =>
    withDir(async (dir) => {
      const file = join(dir, 'audit.jsonl');
      await writeFile(file, auditLines(events(600, (i) => (i < 500 ? 0 : 4000))));
      const history = await open(file, 150, 0);
      try {
        assert.ok(history.startup.diskReads >= 1, 'the missed part of the window came from the file');
        assert.ok(history.startup.parsedLines < 150);
        await assertHistory(history, file, 150);
      } finally {
        history.close();
      }
    }));

  test('long lines first, short ones at the end: parsing that started too early is dropped', () =>
    withDir(async (dir) => {
      const file = join(dir, 'audit.jsonl');
      await writeFile(file, auditLines(events(2100, (i) => (i < 100 ? 8000 : 0))));
      const history = await open(file, 150, 8);
      try {
        assert.equal(history.startup.diskReads, 0);
        assert.ok(history.startup.parsedLines < 2100, `parsed ${history.startup.parsedLines} of 2100 lines`);
        await assertHistory(history, file, 150);
      } finally {
        history.close();
      }
    }));
});

describe('the parsed path and the scanner-only path agree', () => {
  const drafts = fc.array(
    fc.record({
      event_type: fc.constantFrom(...TYPES),
      success: fc.boolean(),
      user_id: fc.constantFrom(...USERS),
      timestamp: fc.integer({ min: 0, max: 200 }).map((s) => new Date(T0 + s * 1000).toISOString()),
      metadata: fc.record({ pad: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })).map((n) => 'é'.repeat(n)) }),
    }),
    { maxLength: 40 },
  );
  /** What becomes of line k: kept, garbage, a shape that parses but is no event, or odd-but-valid JSON. */
  const edit = fc.constantFrom('keep', 'keep', 'keep', 'keep', 'garbage', 'empty', 'array', 'user-number', 'dup-key', 'escaped-key', 'swap');

  test('same warnings, index, head, size, window and answers, whatever the window and margin', async () => {
    await withDir(async (dir) => {
      let run = 0;
      const paths = { readBack: 0, parsed: 0 };
      await fc.assert(
        fc.asyncProperty(
          drafts,
          fc.array(edit, { minLength: 40, maxLength: 40 }),
          fc.nat({ max: 45 }),
          fc.nat({ max: 12 }),
          fc.constantFrom('none', 'torn', 'complete'),
          fc.constantFrom('as drawn', 'short first', 'long first'),
          async (ds, edits, window, margin, tail, order) => {
            // Sorted by length, the average-length estimate is as wrong as it gets.
            const len = (d: (typeof ds)[number]) => d.metadata.pad.length;
            if (order !== 'as drawn') ds.sort((x, y) => (order === 'short first' ? len(x) - len(y) : len(y) - len(x)));
            const lines = chain(ds).map((e) => JSON.stringify(e));
            lines.forEach((l, k) => {
              const e = JSON.parse(l) as Record<string, unknown>;
              switch (edits[k]) {
                case 'garbage': lines[k] = l.slice(0, l.length >> 1); break;
                case 'empty': lines[k] = ''; break;
                case 'array': lines[k] = '[1,2]'; break;
                case 'user-number': lines[k] = JSON.stringify({ ...e, user_id: 5 }); break;
                case 'dup-key': lines[k] = l.replace('{', '{"user_id":"bob",'); break;
                case 'escaped-key': lines[k] = l.replace('"event_type"', '"\\u0065vent_type"'); break;
                case 'swap': if (k > 0) [lines[k - 1], lines[k]] = [lines[k]!, lines[k - 1]!]; break;
              }
            });
            let text = lines.map((l) => l + '\n').join('');
            if (tail === 'torn' && text.length > 20) text = text.slice(0, -20);
            if (tail === 'complete') text = text.slice(0, -1);
            const a = join(dir, `a-${run}.jsonl`);
            const b = join(dir, `b-${run++}.jsonl`);
            await writeFile(a, text);
            await copyFile(a, b);
            const scanned = await scanAuditFile(a); // scanner only
            const { history, warnings } = await openFileAuditHistory(b, window, margin);
            try {
              assert.deepEqual(warnings, scanned.warnings.map((w) => w.replace(a, b)));
              assert.deepEqual(await readFile(b, 'utf8'), await readFile(a, 'utf8'));
              assert.deepEqual(history.loadedHead, scanned.head);
              assert.equal(history.count, scanned.index.size);
              for (let i = 0; i < scanned.index.size; i++) {
                assert.equal(history.index.offset(i), scanned.index.offset(i));
                assert.equal(history.index.length(i), scanned.index.length(i));
              }
              for (const q of [...QUERIES, { limit: 100, offset: 0, user_id: 'bob' }, { limit: 100, offset: 0, event_type: 'job_queued' }]) {
                assert.deepEqual(history.index.select(q), scanned.index.select(q), JSON.stringify(q));
              }
              await assertHistory(history, b, window);
              if (history.startup.diskReads > 0) paths.readBack++;
              if (history.startup.parsedLines > 0) paths.parsed++;
            } finally {
              history.close();
            }
          },
        ),
        { numRuns: 150 },
      );
      assert.ok(paths.readBack > 0 && paths.parsed > 0, `both paths taken: ${JSON.stringify(paths)}`);
    });
  });
});

/**
 * The bounded audit history on real files: the start-up scan, the index and the window answer
 * exactly what the old all-in-memory query answered over the same events (fast-check compares
 * them on generated logs and queries), and the line scanner agrees with JSON.parse on every line.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import type { AuditEvent, AuditEventDraft } from '../../../shared/api-types.js';
import { auditLines, loadAuditFile } from '../../../control/audit/audit-file.js';
import { scanAuditFile } from '../../../control/audit/audit-file-scan.js';
import { fieldsOf, scanAuditLine } from '../../../control/audit/audit-line-scan.js';
import { parseAuditLine } from '../../../control/audit/chain.js';
import { openFileAuditHistory } from '../../../control/audit/file-audit-history.js';
import { queryAuditEvents } from '../../../control/audit/query.js';
import type { AuditQuery } from '../../../control/store/types.js';
import { chain, T0, withDir } from './audit-fixtures.js';

const TYPES = ['job_queued', 'job_started', 'job_completed', 'auth_attempt'] as const;
const USERS = ['alice', 'bob', 'c"q', 'üser', 'x\\y', 'user_id'];

/** What the old store held after a restart: the events as parsed back from their lines. */
const roundTrip = (events: readonly AuditEvent[]) => events.map((e) => JSON.parse(JSON.stringify(e)) as AuditEvent);

const draftArb: fc.Arbitrary<AuditEventDraft> = fc.record(
  {
    event_type: fc.constantFrom(...TYPES),
    success: fc.boolean(),
    user_id: fc.constantFrom(...USERS),
    resource: fc.string({ maxLength: 12 }),
    timestamp: fc.integer({ min: 0, max: 20 }).map((m) => new Date(T0 + m * 60_000 + (m % 2) * 3).toISOString()), // bounds often hit exactly
    // Nested keys named like the fields must not be taken for them.
    metadata: fc.dictionary(fc.constantFrom('user_id', 'event_type', 'timestamp', 'sequence_num', 'k'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['event_type', 'success', 'timestamp'] },
);

const iso = (m: number) => new Date(T0 + m * 60_000).toISOString();
/** Each filter is left out about half the time, so many queries match something. */
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });
const queryArb: fc.Arbitrary<AuditQuery> = fc.record({
  event_type: maybe(fc.constantFrom(...TYPES, 'plugin_configured')),
  user_id: maybe(fc.constantFrom(...USERS, 'nobody')),
  from: maybe(fc.oneof(fc.integer({ min: -1, max: 21 }).map(iso), fc.constant('not a date'))),
  to: maybe(fc.integer({ min: -1, max: 21 }).map(iso)),
  limit: fc.integer({ min: 0, max: 25 }),
  offset: fc.integer({ min: 0, max: 40 }),
});

describe('audit line scanner', () => {
  const lineArb = fc.oneof(
    fc.array(draftArb, { minLength: 1, maxLength: 3 }).map((d) => JSON.stringify(chain(d).at(-1))),
    // A real line with one byte changed, removed or added somewhere.
    fc
      .tuple(draftArb, fc.nat(), fc.constantFrom('', '"', '\\', '{', '}', ',', ':', '0', 'e', ' ', '\u0001', 'é'))
      .map(([d, at, ch]) => {
        const s = JSON.stringify(chain([d])[0]);
        const i = at % s.length;
        return s.slice(0, i) + ch + s.slice(i + (ch === '' || at % 2 === 0 ? 1 : 0));
      }),
    fc.json(),
    fc.string({ unit: 'binary', maxLength: 60 }),
  );

  test('agrees with JSON.parse + the shape check on every line, even with bytes after it', () => {
    fc.assert(
      fc.property(lineArb, fc.constantFrom('', '1', '"', '}', '9e9'), (line, after) => {
        const bytes = Buffer.from(line, 'utf8');
        const buf = Buffer.concat([bytes, Buffer.from(after)]);
        const parsed = parseAuditLine(bytes.toString('utf8'));
        const scanned = scanAuditLine(buf, 0, bytes.length);
        assert.deepEqual(scanned, 'event' in parsed ? fieldsOf(parsed.event) : parsed);
      }),
      { numRuns: 600 },
    );
  });

  test('duplicate keys, escaped values and whitespace read as JSON.parse reads them', () => {
    const [e] = chain([{ event_type: 'job_queued', success: true, user_id: 'a' }]);
    const line = JSON.stringify(e).replace('"user_id":"a"', '"user_id":"a", "user_id" : "b\\u00e9\\n"').replace('"event_type"', ' "event_type"');
    const f = scanAuditLine(Buffer.from(line), 0, Buffer.byteLength(line));
    assert.ok(!('unparsable' in f));
    assert.equal(f.user_id, 'bé\n');
    assert.equal(f.event_type, 'job_queued');
  });
});

describe('audit history over a real audit.jsonl', () => {
  test('queries answer exactly as the in-memory query, for any window size', async () => {
    await withDir(async (dir) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(draftArb, { maxLength: 60, size: 'max' }),
          fc.nat({ max: 70 }),
          fc.array(queryArb, { minLength: 1, maxLength: 8 }),
          async (drafts, window, queries) => {
            const events = chain(drafts);
            const file = join(dir, `audit-${run++}.jsonl`);
            await writeFile(file, auditLines(events));
            const { history, warnings } = await openFileAuditHistory(file, window);
            try {
              assert.deepEqual(warnings, []);
              assert.equal(history.count, events.length);
              assert.equal(history.windowSize, Math.min(window, events.length));
              for (const q of queries) assert.deepEqual(history.query(q), queryAuditEvents(roundTrip(events), q));
            } finally {
              history.close();
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  });

  test('appended events: served from the window until durable, then from the file', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'audit.jsonl');
      const first = chain(Array.from({ length: 30 }, (_, i) => ({ event_type: TYPES[i % 4]!, success: true, user_id: USERS[i % 3]!, timestamp: iso(i) })));
      await writeFile(file, auditLines(first));
      const { history } = await openFileAuditHistory(file, 0);
      try {
        assert.equal(history.windowSize, 0);
        const more = chain(
          Array.from({ length: 10 }, (_, i) => ({ event_type: 'job_completed' as const, success: false, user_id: 'bob', timestamp: iso(40 + i) })),
          first.at(-1),
        );
        for (const e of more) history.append(e);
        // Not on disk yet (not even written): only the window can answer.
        assert.equal(history.windowSize, 10);
        const all = [...first, ...more];
        const q: AuditQuery = { user_id: 'bob', limit: 100, offset: 0 };
        assert.deepEqual(history.query(q), queryAuditEvents(all, q));
        await appendFile(file, auditLines(more));
        history.markDurable(35);
        assert.equal(history.windowSize, 5);
        history.markDurable(40);
        assert.equal(history.windowSize, 0);
        const reads = history.diskReads;
        assert.deepEqual(history.query(q), queryAuditEvents(all, q));
        assert.ok(history.diskReads > reads, 'the page came from the file');
        // A page of adjacent lines is one read.
        const before = history.diskReads;
        assert.equal(history.query({ limit: 20, offset: 5 }).events.length, 20);
        assert.equal(history.diskReads, before + 1);
      } finally {
        history.close();
      }
    });
  });

  test('a torn last line is cut off with the old warning; a complete one gets its newline', async () => {
    await withDir(async (dir) => {
      const events = chain(Array.from({ length: 5 }, (_, i) => ({ event_type: 'job_queued' as const, success: true, user_id: `u${i}`, timestamp: iso(i) })));
      const text = auditLines(events);
      const torn = text.slice(0, text.length - 30);
      for (const [name, content] of [
        ['torn', torn],
        ['complete', text.slice(0, -1)],
      ] as const) {
        const a = join(dir, `${name}-new.jsonl`);
        const b = join(dir, `${name}-old.jsonl`);
        await writeFile(a, content);
        await copyFile(a, b);
        const scan = await scanAuditFile(a);
        const old = await loadAuditFile(b);
        assert.deepEqual(scan.warnings, old.warnings.map((w) => w.replace(b, a)));
        assert.equal(scan.index.size, old.events.length);
        assert.deepEqual(await readFile(a, 'utf8'), await readFile(b, 'utf8'));
        assert.equal(scan.bytes, Buffer.byteLength(await readFile(a, 'utf8')));
        assert.equal(scan.head?.event_hash, old.events.at(-1)?.event_hash);
      }
      assert.equal((await readFile(join(dir, 'torn-new.jsonl'), 'utf8')).split('\n').length, 5);
    });
  });

  test('an unreadable middle line: same warning, left out of queries, head from the last event', async () => {
    await withDir(async (dir) => {
      const events = chain(Array.from({ length: 12 }, (_, i) => ({ event_type: TYPES[i % 4]!, success: true, user_id: 'alice', timestamp: iso(i) })));
      const lines = auditLines(events).trimEnd().split('\n');
      lines[6] = '{"this is": not json';
      const file = join(dir, 'audit.jsonl');
      await writeFile(file, lines.join('\n') + '\n');
      const old = await loadAuditFile(file);
      for (const window of [0, 3, 100]) {
        const { history, warnings } = await openFileAuditHistory(file, window);
        try {
          assert.deepEqual(warnings, old.warnings);
          assert.match(warnings.join(), /unreadable line where sequence 7/);
          assert.equal(history.count, 11);
          assert.equal(history.loadedHead?.event_hash, events[11]!.event_hash);
          const q = { user_id: 'alice', limit: 50, offset: 0 };
          assert.deepEqual(history.query(q), queryAuditEvents(old.events, q));
        } finally {
          history.close();
        }
      }
    });
  });

  test('chain breaks and lines longer than the read chunk are reported as the old loader did', async () => {
    await withDir(async (dir) => {
      const events = chain(Array.from({ length: 8 }, (_, i) => ({ event_type: 'job_queued' as const, success: true, metadata: { pad: 'x'.repeat(100 * i) }, timestamp: iso(i) })));
      const lines = auditLines(events).trimEnd().split('\n');
      [lines[2], lines[3]] = [lines[3]!, lines[2]!];
      const file = join(dir, 'audit.jsonl');
      await writeFile(file, lines.join('\n') + '\n');
      const scan = await scanAuditFile(file, { chunkBytes: 64 });
      const old = await loadAuditFile(file);
      assert.deepEqual(scan.warnings, old.warnings);
      assert.match(scan.warnings.join(), /chain breaks at sequence 3/);
      assert.equal(scan.index.size, 8);
      for (let i = 0; i < 8; i++) assert.equal(scan.index.length(i), Buffer.byteLength(lines[i]!) + 1);
    });
  });

  test('a missing file is an empty log', async () => {
    await withDir(async (dir) => {
      const { history, warnings } = await openFileAuditHistory(join(dir, 'none.jsonl'), 10);
      assert.deepEqual(warnings, []);
      assert.equal(history.count, 0);
      assert.equal(history.loadedHead, undefined);
      assert.deepEqual(history.query({ limit: 10, offset: 0 }), { events: [], total: 0 });
      await assert.rejects(openFileAuditHistory(join(dir, 'none.jsonl'), -1), /whole number/);
    });
  });
});

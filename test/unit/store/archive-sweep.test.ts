/** Task retention: the pure sweep decision, the sweeper on a real journal store and archive, and the setting. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import fc from 'fast-check';
import type { AuditEvent, Task, TaskStatus } from '../../../shared/api-types.js';
import { retentionDays, loadConfig } from '../../../control/config.js';
import { DAY_MS, startArchiveSweeper, tasksToArchive, type BatchReport } from '../../../control/store/archive-sweep.js';
import { openJournalStore } from '../../../control/store/journal-store.js';
import { openTaskArchive, type TaskArchive } from '../../../control/store/task-archive.js';
import type { Mutation, Store } from '../../../control/store/types.js';
import { tempDir } from '../../helpers/tmp.js';

const NOW = Date.UTC(2030, 5, 20, 12);
const iso = (ms: number) => new Date(ms).toISOString();

function task(id: string, status: TaskStatus, endedMs: number | undefined, updatedMs = endedMs ?? NOW): Task {
  return {
    id, job_name: id, status, priority: 5, user_id: 'u1', retry_count: 0, max_retries: 3,
    created_at: iso(updatedMs - 1000), queued_at: iso(updatedMs - 1000), updated_at: iso(updatedMs),
    ...(endedMs !== undefined ? { ended_at: iso(endedMs) } : {}),
  } as Task;
}

describe('tasksToArchive (pure)', () => {
  const tasks = [
    task('old-done', 'completed', NOW - 10 * DAY_MS),
    task('old-failed', 'failed', NOW - 3 * DAY_MS),
    task('old-cancelled', 'cancelled', NOW - 2 * DAY_MS - 1),
    task('old-running', 'running', undefined, NOW - 30 * DAY_MS),
    task('old-queued', 'queued', undefined, NOW - 30 * DAY_MS),
    task('edge', 'completed', NOW - 2 * DAY_MS), // exactly at the cutoff: kept
    task('recent', 'completed', NOW - DAY_MS),
    task('no-ended', 'failed', undefined, NOW - 5 * DAY_MS), // updated_at stands in
    { ...task('garbage-time', 'completed', undefined), updated_at: 'not a date' } as Task,
  ];

  test('final tasks older than the retention, in order; ended_at, else updated_at', () => {
    assert.deepEqual(tasksToArchive(tasks, NOW, 2 * DAY_MS), ['old-done', 'old-failed', 'old-cancelled', 'no-ended']);
  });
  test('retention 0 archives nothing; limit bounds a batch', () => {
    assert.deepEqual(tasksToArchive(tasks, NOW, 0), []);
    assert.deepEqual(tasksToArchive(tasks, NOW, 2 * DAY_MS, 2), ['old-done', 'old-failed']);
    assert.deepEqual(tasksToArchive(tasks, NOW, 2 * DAY_MS, 0), []);
  });
  test('property: picks exactly the final tasks that ended before now - retention', () => {
    const statuses: TaskStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...statuses), fc.integer({ min: -40, max: 1 })), { maxLength: 60 }),
        fc.integer({ min: 0, max: 30 }),
        (spec, days) => {
          const ts = spec.map(([s, d], i) => task(`t${i}`, s, NOW + d * DAY_MS));
          const got = new Set(tasksToArchive(ts, NOW, days * DAY_MS));
          for (const t of ts) {
            const want = days > 0 && ['completed', 'failed', 'cancelled'].includes(t.status) && Date.parse(t.ended_at!) < NOW - days * DAY_MS;
            assert.equal(got.has(t.id), want, `${t.id} ${t.status} ${t.ended_at}`);
          }
        },
      ),
    );
  });
});

async function seed(store: Store, tasks: Task[]): Promise<void> {
  for (let i = 0; i < tasks.length; i += 500) {
    await store.commit(tasks.slice(i, i + 500).map((value) => ({ op: 'put', coll: 'tasks', value }) as Mutation));
  }
}

describe('archive sweeper', () => {
  test('archives old finished tasks in batches: archive first, then one commit per batch with a tasks_archived event; survives a reopen', async () => {
    await using dir = await tempDir();
    const clock = { now: () => NOW };
    let store = await openJournalStore({ dataDir: dir.path, clock });
    let archive = await openTaskArchive({ dataDir: dir.path });
    const old = Array.from({ length: 2500 }, (_, i) => task(`old-${i}`, i % 3 === 0 ? 'failed' : 'completed', NOW - 40 * DAY_MS + i * 1000));
    const keep = [task('recent', 'completed', NOW - 1000), task('running', 'running', undefined, NOW - 90 * DAY_MS)];
    await seed(store, [...old.slice(0, 1200), ...keep, ...old.slice(1200)]);
    const batches: BatchReport[] = [];
    const audit: AuditEvent[] = [];
    const sweeper = startArchiveSweeper({
      store, archive, retentionDays: 30, clock, intervalMs: 3600_000, batchSize: 1000, schedule: false,
      onBatch: (b) => batches.push(b), onAudit: (e) => audit.push(...e),
    });
    assert.equal(await sweeper.runOnce(), 2500);
    assert.deepEqual(batches.map((b) => b.archived), [1000, 1000, 500]);
    assert.equal(store.count('tasks'), 2);
    assert.deepEqual([...store.values('tasks')].map((t) => t.id), ['recent', 'running']);
    assert.equal(audit.length, 3, 'one event per batch (one month file here)');
    assert.ok(audit.every((e) => e.event_type === 'tasks_archived' && e.resource === 'archive/tasks-2030-05.jsonl'));
    assert.deepEqual(audit.map((e) => e.metadata?.count), [1000, 1000, 500]);
    assert.equal(store.auditEvents({ event_type: 'tasks_archived', limit: 10, offset: 0 }).total, 3);
    assert.deepEqual(archive.get('old-1234'), old[1234]);
    assert.equal(await sweeper.runOnce(), 0, 'nothing left');
    await sweeper.stop();
    await archive.close();
    await store.close();

    store = await openJournalStore({ dataDir: dir.path, clock });
    archive = await openTaskArchive({ dataDir: dir.path });
    assert.equal(store.count('tasks'), 2);
    assert.equal(archive.size, 2500);
    assert.deepEqual(archive.get('old-2499'), old[2499]);
    assert.equal((await store.verifyAudit()).valid, true);
    await archive.close();
    await store.close();
  });

  test('a task that changes while its batch is written stays live (the stale archived line is shadowed)', async () => {
    await using dir = await tempDir();
    const clock = { now: () => NOW };
    const store = await openJournalStore({ dataDir: dir.path, clock });
    const real = await openTaskArchive({ dataDir: dir.path });
    await seed(store, [task('a', 'completed', NOW - 9 * DAY_MS), task('b', 'completed', NOW - 9 * DAY_MS)]);
    let raced = false;
    const racing: TaskArchive = Object.create(real, {
      append: {
        value: async (ts: readonly Task[], now: number) => {
          const out = await real.append(ts, now);
          if (!raced) {
            raced = true; // a late agent report lands while the first batch is on its way to disk
            const b = store.get('tasks', 'b')!;
            await store.commit([{ op: 'put', coll: 'tasks', value: { ...b, metadata: { late: 'report' } } }]);
          }
          return out;
        },
      },
    });
    const audit: AuditEvent[] = [];
    const sweeper = startArchiveSweeper({ store, archive: racing, retentionDays: 1, clock, intervalMs: 1, batchSize: 10, schedule: false, onAudit: (e) => audit.push(...e) });
    assert.equal(await sweeper.runOnce(), 1 + 1, 'a now, b in the next batch (its changed version)');
    assert.equal(store.count('tasks'), 0);
    assert.deepEqual(real.get('b')?.metadata, { late: 'report' }, 'the newer line wins');
    assert.deepEqual(audit.map((e) => e.metadata?.count), [1, 1]);
    await real.close();
    await store.close();
  });

  test('an archive write failure deletes nothing; the next pass archives', async () => {
    await using dir = await tempDir();
    const clock = { now: () => NOW };
    const store = await openJournalStore({ dataDir: dir.path, clock });
    const real = await openTaskArchive({ dataDir: dir.path });
    await seed(store, [task('a', 'completed', NOW - 9 * DAY_MS)]);
    let fail = true;
    const flaky: TaskArchive = Object.create(real, {
      append: { value: (ts: readonly Task[], now: number) => (fail ? Promise.reject(new Error('ENOSPC: disk full')) : real.append(ts, now)) },
    });
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
    const sweeper = startArchiveSweeper({ store, archive: flaky, retentionDays: 1, clock, intervalMs: 1, schedule: false, logger });
    assert.equal(await sweeper.runOnce(), 0);
    assert.equal(store.count('tasks'), 1);
    assert.ok(lines.some((l) => l.includes('disk full')));
    fail = false;
    assert.equal(await sweeper.runOnce(), 1);
    assert.equal(store.count('tasks'), 0);
    await real.close();
    await store.close();
  });

  test('the schedule: a pass at start, then one per interval; stop ends it; retention 0 never runs', async () => {
    await using dir = await tempDir();
    let now = NOW;
    const clock = { now: () => now };
    const store = await openJournalStore({ dataDir: dir.path, clock });
    const archive = await openTaskArchive({ dataDir: dir.path });
    await seed(store, [task('a', 'completed', NOW - 2 * DAY_MS), task('b', 'completed', NOW - 12 * 3600_000)]);
    const off = startArchiveSweeper({ store, archive, retentionDays: 0, clock, intervalMs: 1 });
    assert.equal(await off.runOnce(), 0);
    await off.stop();
    assert.equal(store.count('tasks'), 2);

    let batches = 0;
    let resolveSecond: () => void = () => undefined;
    const second = new Promise<void>((r) => (resolveSecond = r));
    const first = new Promise<void>((r) => {
      const sweeper = startArchiveSweeper({
        store, archive, retentionDays: 1, clock, intervalMs: 5,
        onBatch: () => {
          batches++;
          if (batches === 1) {
            now += DAY_MS; // b is now past the retention; the next scheduled pass takes it
            r();
          } else {
            void sweeper.stop().then(resolveSecond);
          }
        },
      });
    });
    await first;
    assert.equal(store.get('tasks', 'a'), undefined);
    await second;
    assert.equal(store.count('tasks'), 0);
    await archive.close();
    await store.close();
  });
});

describe('FETCHML_TASK_RETENTION_DAYS', () => {
  test('default 0 (keep everything live); whole days accepted', () => {
    assert.equal(loadConfig({}).taskRetentionDays, 0);
    assert.equal(loadConfig({ FETCHML_TASK_RETENTION_DAYS: '30' }).taskRetentionDays, 30);
    assert.equal(retentionDays(' 7 '), 7);
    assert.equal(retentionDays(''), 0);
  });
  test('bad values are refused with a message naming the variable', () => {
    for (const bad of ['-1', '1.5', 'abc', '1e3', '0x10', '99999999', 'NaN']) {
      assert.throws(() => loadConfig({ FETCHML_TASK_RETENTION_DAYS: bad }), /FETCHML_TASK_RETENTION_DAYS must be a whole number/, bad);
    }
  });
});

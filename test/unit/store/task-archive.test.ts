/** The task archive on real files: append + index, reopen, torn and corrupt lines, duplicate ids; the compact index. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Task } from '../../../shared/api-types.js';
import { ArchiveIndex } from '../../../control/store/archive-index.js';
import { archiveFileFor, archiveLine, openTaskArchive } from '../../../control/store/task-archive.js';
import { tempDir } from '../../helpers/tmp.js';

const JAN = Date.UTC(2030, 0, 15);
const MAR = Date.UTC(2030, 2, 3);

function task(id: string, endedMs: number, extra: Partial<Task> = {}): Task {
  const at = new Date(endedMs).toISOString();
  return {
    id, job_name: `job-${id}`, status: 'completed', priority: 5, user_id: 'u1', retry_count: 0, max_retries: 3,
    created_at: at, queued_at: at, updated_at: at, ended_at: at, ...extra,
  } as Task;
}

function capture() {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) }) };
}

describe('task archive files', () => {
  test('append writes one JSON line per task into the month file of its end; get reads it back; reopen indexes it', async () => {
    await using dir = await tempDir();
    const a = await openTaskArchive({ dataDir: dir.path });
    const tasks = [task('a', JAN), task('b', MAR, { metadata: { note: 'line\nbreak "quoted" ü' } }), task('c', JAN)];
    const written = await a.append(tasks, MAR);
    assert.deepEqual(written.sort((x, y) => x.file.localeCompare(y.file)), [
      { file: 'archive/tasks-2030-01.jsonl', count: 2 },
      { file: 'archive/tasks-2030-03.jsonl', count: 1 },
    ]);
    const jan = (await readFile(join(dir.path, 'archive', 'tasks-2030-01.jsonl'), 'utf8')).split('\n');
    assert.equal(jan.length, 3, 'two lines and the final newline');
    assert.deepEqual(JSON.parse(jan[1]!), tasks[2]);
    assert.equal((await stat(join(dir.path, 'archive', 'tasks-2030-01.jsonl'))).mode & 0o777, 0o600);
    for (const t of tasks) assert.deepEqual(a.get(t.id), t);
    assert.equal(a.get('nope'), undefined);
    assert.equal(a.get(''), undefined);
    await a.close();

    const b = await openTaskArchive({ dataDir: dir.path });
    assert.equal(b.size, 3);
    for (const t of tasks) assert.deepEqual(b.get(t.id), t);
    await b.close();
  });

  test('a torn last line is skipped with a warning naming file and line, and the next append starts a new line', async () => {
    await using dir = await tempDir();
    const a = await openTaskArchive({ dataDir: dir.path });
    await a.append([task('a', JAN), task('b', JAN)], JAN);
    await a.close();
    const file = join(dir.path, 'archive', 'tasks-2030-01.jsonl');
    await appendFile(file, archiveLine(task('c', JAN)).slice(0, 40)); // crash mid-write
    const { lines, logger } = capture();
    const b = await openTaskArchive({ dataDir: dir.path, logger });
    assert.equal(b.get('c'), undefined, 'the torn task was never committed away: it is still live');
    assert.deepEqual(b.get('a'), task('a', JAN));
    const warn = lines.find((l) => l.includes('unterminated'));
    assert.ok(warn, lines.join('\n'));
    assert.match(warn, /tasks-2030-01\.jsonl line 3/);
    await b.append([task('c', JAN)], JAN);
    assert.deepEqual(b.get('c'), task('c', JAN));
    await b.close();
    const c = await openTaskArchive({ dataDir: dir.path, logger });
    assert.deepEqual(c.get('c'), task('c', JAN), 'the re-archived line is whole after a reopen');
    assert.equal(c.size, 3);
    await c.close();
  });

  test('corrupt lines in the middle, blank lines and foreign files are skipped with warnings; start-up never fails', async () => {
    await using dir = await tempDir();
    await mkdir(join(dir.path, 'archive'));
    const good = task('good', JAN);
    const escaped = task('we"ird\\id', JAN);
    const text = [
      '{"id":"broken", "status": "comp',
      '',
      archiveLine(good).trimEnd(),
      'not json at all',
      '{"no_id":true}',
      JSON.stringify(escaped), // not our id-first shape with escapes: the slow path parses it
      '{"id":"trap","x":{"y":1}', // our prefix, ends in }, but truncated JSON: indexed, refused on read
    ].join('\n') + '\n';
    await writeFile(join(dir.path, 'archive', 'tasks-2030-01.jsonl'), text);
    await writeFile(join(dir.path, 'archive', 'README.txt'), 'not an archive file\n');
    const { lines, logger } = capture();
    const a = await openTaskArchive({ dataDir: dir.path, logger });
    assert.deepEqual(a.get('good'), good);
    assert.deepEqual(a.get('we"ird\\id'), escaped);
    assert.equal(a.get('broken'), undefined);
    assert.equal(a.get('trap'), undefined, 'a damaged line is never returned');
    for (const n of [1, 4, 5]) assert.ok(lines.some((l) => l.includes(`tasks-2030-01.jsonl line ${n}:`)), `warning for line ${n}: ${lines.join('\n')}`);
    assert.ok(!lines.some((l) => l.includes('line 2:')), 'a blank line is no warning');
    await a.close();
  });

  test('duplicate ids (a crash between archive fsync and store commit): the last line wins, also after a reopen', async () => {
    await using dir = await tempDir();
    const a = await openTaskArchive({ dataDir: dir.path });
    await a.append([task('dup', JAN, { job_name: 'first' })], JAN);
    await a.append([task('dup', JAN, { job_name: 'second' })], JAN);
    assert.equal(a.get('dup')?.job_name, 'second');
    await a.close();
    const b = await openTaskArchive({ dataDir: dir.path });
    assert.equal(b.size, 2);
    assert.equal(b.get('dup')?.job_name, 'second');
    await b.close();
  });

  test('with the newest duplicate damaged, get falls back to the older good line', async () => {
    await using dir = await tempDir();
    await mkdir(join(dir.path, 'archive'));
    const older = archiveLine(task('x', JAN, { job_name: 'older' }));
    await writeFile(join(dir.path, 'archive', 'tasks-2030-01.jsonl'), `${older}{"id":"x","job_name":"cut}\n`);
    const a = await openTaskArchive({ dataDir: dir.path });
    assert.equal(a.get('x')?.job_name, 'older');
    await a.close();
  });

  test('a data dir without an archive opens empty and creates nothing until the first append', async () => {
    await using dir = await tempDir();
    const a = await openTaskArchive({ dataDir: dir.path });
    assert.equal(a.size, 0);
    assert.equal(a.get('x'), undefined);
    await a.close();
    assert.deepEqual(await readdir(dir.path), []);
  });

  test('archiveFileFor uses ended_at, then updated_at, then the fallback clock', () => {
    assert.equal(archiveFileFor(task('a', JAN), MAR), 'tasks-2030-01.jsonl');
    assert.equal(archiveFileFor({ ...task('a', JAN), ended_at: undefined }, MAR), 'tasks-2030-01.jsonl');
    assert.equal(archiveFileFor({ ...task('a', JAN), ended_at: 'garbage', updated_at: 'x', created_at: 'y' } as Task, MAR), 'tasks-2030-03.jsonl');
  });
});

describe('archive index', () => {
  test('finds every id after many grows; newest duplicate first; unknown ids have no candidates', () => {
    const idx = new ArchiveIndex(16);
    const n = 20_000;
    for (let i = 0; i < n; i++) idx.add(`id-${i}`, { file: i % 3, offset: i * 100, length: 99 });
    idx.add('id-7', { file: 5, offset: 1, length: 10 });
    for (let i = 0; i < n; i += 997) {
      const c = idx.candidates(`id-${i}`);
      assert.equal(c[0]?.offset, i === 7 ? 1 : i * 100, `id-${i}`);
    }
    const dup = idx.candidates('id-7');
    assert.deepEqual(dup, [{ file: 5, offset: 1, length: 10 }, { file: 7 % 3, offset: 700, length: 99 }]);
    assert.deepEqual(idx.candidates('id-missing'), []);
    assert.equal(idx.size, n + 1);
    assert.ok(idx.bytes / idx.size < 60, `${idx.bytes / idx.size} bytes per entry`);
  });

  test('duplicates keep their order across grows', () => {
    const idx = new ArchiveIndex(16);
    for (let k = 0; k < 5; k++) {
      idx.add('same', { file: 0, offset: k, length: 1 });
      for (let i = 0; i < 50; i++) idx.add(`filler-${k}-${i}`, { file: 0, offset: 1000 + i, length: 1 });
    }
    assert.deepEqual(idx.candidates('same').map((c) => c.offset), [4, 3, 2, 1, 0]);
  });

  test('refuses impossible locations instead of corrupting the table', () => {
    const idx = new ArchiveIndex();
    assert.throws(() => idx.add('a', { file: 0, offset: 0, length: 0 }), RangeError);
    assert.throws(() => idx.add('a', { file: 70_000, offset: 0, length: 5 }), RangeError);
    assert.equal(idx.size, 0);
  });
});

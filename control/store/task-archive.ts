/**
 * The task archive: finished tasks that left the live store, one Task JSON a line in append-only
 * files `<data-dir>/archive/tasks-YYYY-MM.jsonl` (the UTC month the task ended). The sweep
 * (archive-sweep.ts) appends and fsyncs a batch here BEFORE the store commit that deletes it, so
 * a crash between the two leaves a duplicate line, never a lost task; reads take the last line.
 * Lines are written `{"id":…,` first so start-up can index a line without parsing it; a line is
 * parsed (and its id checked) when it is read. Nothing here is rewritten or deleted.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Task } from '../../shared/api-types.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { ArchiveIndex, hashId, hashIdBytes } from './archive-index.js';
import { readLines } from './line-reader.js';
import { fsyncDir } from './snapshot-file.js';

export const ARCHIVE_DIR_NAME = 'archive';
export const ARCHIVE_FILE_PATTERN = /^tasks-\d{4}-\d{2}\.jsonl$/;

/** The file a task goes to: the UTC month of its end (updated_at, created_at, `fallbackMs` if none parse). */
export function archiveFileFor(t: Task, fallbackMs: number): string {
  let ms = NaN;
  for (const v of [t.ended_at, t.updated_at, t.created_at]) {
    ms = typeof v === 'string' ? Date.parse(v) : NaN;
    if (Number.isFinite(ms)) break;
  }
  const d = new Date(Number.isFinite(ms) ? ms : fallbackMs);
  return `tasks-${String(d.getUTCFullYear()).padStart(4, '0').slice(-4)}-${String(d.getUTCMonth() + 1).padStart(2, '0')}.jsonl`;
}

/** One archive line; `id` first so the start-up scan can find it without JSON.parse. */
export function archiveLine(t: Task): string {
  const { id, ...rest } = t;
  return `${JSON.stringify({ id, ...rest })}\n`;
}

export interface ArchiveWarning {
  file: string;
  line: number;
  why: string;
}

const NL = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACE = 0x7d;
const PREFIX = Buffer.from('{"id":"');

/**
 * Indexes every line of one archive file, reading it in chunks. A line that is not a task (torn,
 * corrupt, no id) is reported and skipped; an unterminated last line is a write a crash cut short
 * (its task is still live: the store commit comes after the fsync).
 */
export async function scanArchiveFile(path: string, fileNo: number, index: ArchiveIndex, warn: (w: ArchiveWarning) => void): Promise<{ lines: number; bytes: number }> {
  const fh = await open(path, 'r');
  try {
    let lineNo = 0;
    let lines = 0;
    const { tail, tailAt } = await readLines(fh, (buf, start, end, at) => {
      lineNo++;
      if (indexLine(buf, start, end, fileNo, at, index)) lines++;
      else if (end > start) warn({ file: path, line: lineNo, why: describeBadLine(buf, start, end) });
    });
    if (tail.length > 0) warn({ file: path, line: lineNo + 1, why: `unterminated last line (${tail.length} bytes): a write cut short, skipped` });
    return { lines, bytes: tailAt + tail.length };
  } finally {
    await fh.close();
  }
}

/** Adds the line [start, end) (without its newline) to the index; false when it is no task line. */
function indexLine(buf: Buffer, start: number, end: number, fileNo: number, offset: number, index: ArchiveIndex): boolean {
  if (end - start < PREFIX.length + 2) return false;
  const loc = { file: fileNo, offset, length: end - start + 1 };
  if (buf.compare(PREFIX, 0, PREFIX.length, start, start + PREFIX.length) === 0 && buf[end - 1] === CLOSE_BRACE) {
    const idStart = start + PREFIX.length;
    const q = buf.indexOf(QUOTE, idStart);
    if (q > idStart && q < end && !hasByte(buf, BACKSLASH, idStart, q)) {
      index.addHashed(hashIdBytes(buf, idStart, q), loc);
      return true;
    }
  }
  // Not in our own shape (escaped id, hand-written line): parse it.
  const t = parseTaskLine(buf.toString('utf8', start, end));
  if (!t) return false;
  index.addHashed(hashId(t.id), loc);
  return true;
}

function hasByte(buf: Buffer, byte: number, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] === byte) return true;
  return false;
}

function describeBadLine(buf: Buffer, start: number, end: number): string {
  const text = buf.toString('utf8', start, Math.min(end, start + 2000));
  try {
    JSON.parse(buf.toString('utf8', start, end));
    return 'a JSON line without a string "id": skipped';
  } catch (err) {
    return `not JSON (${(err as Error).message.slice(0, 120)}): skipped; starts ${JSON.stringify(text.slice(0, 60))}`;
  }
}

function parseTaskLine(text: string): Task | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as Task).id === 'string' && (v as Task).id !== '') return v as Task;
  } catch {
    // reported by the caller
  }
  return undefined;
}

export interface TaskArchive {
  readonly dir: string;
  /** The archived task (its newest line), or undefined. Reads one line from disk. */
  get(id: string): Task | undefined;
  /**
   * Appends the tasks (grouped by month file) and fsyncs each file (and the directory when a
   * file is new) before resolving; only then are they indexed. Calls run one after another.
   */
  append(tasks: readonly Task[], nowMs: number): Promise<Array<{ file: string; count: number }>>;
  /** Lines indexed (duplicates included). */
  readonly size: number;
  /** Memory the index takes, in bytes. */
  readonly indexBytes: number;
  close(): Promise<void>;
}

/** Opens the archive under the data dir and indexes every file in it (name order: months ascending). */
export async function openTaskArchive(opts: { dataDir: string; logger?: Logger }): Promise<TaskArchive> {
  const logger = opts.logger ?? silentLogger;
  const dir = join(opts.dataDir, ARCHIVE_DIR_NAME);
  const index = new ArchiveIndex();
  const files: string[] = [];
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  for (const name of names.filter((n) => ARCHIVE_FILE_PATTERN.test(n)).sort()) {
    files.push(name);
    await scanArchiveFile(join(dir, name), files.length - 1, index, (w) =>
      logger.warn({ file: w.file, line: w.line }, `task archive ${w.file} line ${w.line}: ${w.why}`),
    );
  }
  const readFds = new Map<number, number>();
  const writers = new Map<string, FileHandle>();
  let tail: Promise<unknown> = Promise.resolve();
  let dirReady = names.length > 0;
  let closed = false;

  const readLine = (fileNo: number, offset: number, length: number): string => {
    let fd = readFds.get(fileNo);
    if (fd === undefined) {
      fd = openSync(join(dir, files[fileNo]!), 'r');
      readFds.set(fileNo, fd);
    }
    // One small positioned read (a line is a few hundred bytes), synchronous so GET /v1/tasks/{id}
    // keeps its synchronous lookup; it comes from the page cache for recently archived tasks.
    const buf = Buffer.allocUnsafe(length);
    const n = readSync(fd, buf, 0, length, offset);
    return buf.toString('utf8', 0, n).trimEnd();
  };

  const writerFor = async (name: string): Promise<{ fh: FileHandle; isNew: boolean }> => {
    const open_ = writers.get(name);
    if (open_) return { fh: open_, isNew: false };
    if (!dirReady) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await fsyncDir(opts.dataDir);
      dirReady = true;
    }
    const fh = await open(join(dir, name), 'a+', 0o600);
    writers.set(name, fh);
    if (!files.includes(name)) files.push(name);
    return { fh, isNew: (await fh.stat()).size === 0 };
  };

  const appendGroup = async (name: string, tasks: Task[]): Promise<void> => {
    const { fh, isNew } = await writerFor(name);
    try {
      const size = (await fh.stat()).size;
      // A line a crash cut short must not swallow the first new one.
      let lead = '';
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== NL) lead = '\n';
      }
      const lines = tasks.map(archiveLine);
      const buf = Buffer.from(lead + lines.join(''), 'utf8');
      let off = 0;
      while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      await fh.datasync();
      if (isNew) await fsyncDir(dir);
      const fileNo = files.indexOf(name);
      let at = size + Buffer.byteLength(lead);
      for (const [k, t] of tasks.entries()) {
        const length = Buffer.byteLength(lines[k]!);
        index.add(t.id, { file: fileNo, offset: at, length });
        at += length;
      }
    } catch (err) {
      // Forget the handle: the next append re-reads the file's real end.
      writers.delete(name);
      await fh.close().catch(() => undefined);
      throw err;
    }
  };

  return {
    dir,
    get(id) {
      if (typeof id !== 'string' || id === '') return undefined;
      for (const loc of index.candidates(id)) {
        let text: string;
        try {
          text = readLine(loc.file, loc.offset, loc.length);
        } catch (err) {
          logger.warn({ err, file: files[loc.file], offset: loc.offset }, 'task archive: could not read a line');
          continue;
        }
        const t = parseTaskLine(text);
        if (t?.id === id) return t;
        if (!t) logger.warn({ file: files[loc.file], offset: loc.offset }, 'task archive: a damaged line, skipped');
      }
      return undefined;
    },
    append(tasks, nowMs) {
      if (closed) return Promise.reject(new Error('task archive is closed'));
      const run = async () => {
        const groups = new Map<string, Task[]>();
        for (const t of tasks) {
          const name = archiveFileFor(t, nowMs);
          const g = groups.get(name);
          if (g) g.push(t);
          else groups.set(name, [t]);
        }
        const out: Array<{ file: string; count: number }> = [];
        for (const [name, group] of groups) {
          await appendGroup(name, group);
          out.push({ file: `${ARCHIVE_DIR_NAME}/${name}`, count: group.length });
        }
        return out;
      };
      const p = tail.then(run, run);
      tail = p.catch(() => undefined);
      return p;
    },
    get size() {
      return index.size;
    },
    get indexBytes() {
      return index.bytes;
    },
    async close() {
      if (closed) return;
      closed = true;
      await tail;
      for (const fd of readFds.values()) closeSync(fd);
      readFds.clear();
      for (const fh of writers.values()) await fh.close().catch(() => undefined);
      writers.clear();
    },
  };
}

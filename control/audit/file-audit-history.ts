/**
 * The journal store's audit history: an index over every event of audit.jsonl (audit-index.ts) and
 * the newest events parsed in memory (the window, FETCHML_AUDIT_MEMORY_EVENTS). A query filters the
 * index, then takes the page's events from the window, or reads their lines from the file (one
 * positioned read per run of adjacent lines). The window never lets go of an event whose line is
 * not yet fsync'd (`markDurable`), so an event is always either in memory or durably on disk.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { AuditEvent } from '../../shared/api-types.js';
import type { AuditQuery } from '../store/types.js';
import type { AuditHistory } from './audit-history.js';
import { AuditIndex } from './audit-index.js';
import { scanAuditFile } from './audit-file-scan.js';
import { fieldsOf } from './audit-line-scan.js';
import { parseAuditLine, type ChainHead } from './chain.js';

export const DEFAULT_AUDIT_MEMORY_EVENTS = 100_000;
/** One read covers at most this many bytes of adjacent lines. */
const MAX_RUN_BYTES = 16 * 1024 * 1024;

export class FileAuditHistory implements AuditHistory {
  /** window[k] is the event at position windowStart + k - head; entries before `head` are dropped. */
  private window: Array<AuditEvent | undefined>;
  private head = 0;
  private windowStart: number;
  /** Events whose lines are fsync'd in the file (the window keeps every one after them). */
  private durable: number;
  private fd: number | undefined;
  /** Disk reads done by queries (for tests and the benchmark). */
  diskReads = 0;
  /** Start-up: disk reads for window events the scan did not parse, and lines it JSON.parsed. */
  startup = { diskReads: 0, parsedLines: 0 };

  constructor(
    private readonly file: string,
    readonly index: AuditIndex,
    window: AuditEvent[],
    /** The file's size: where the next line goes. */
    private bytes: number,
    private readonly maxWindow: number,
    readonly loadedHead: ChainHead | undefined,
  ) {
    this.window = window;
    this.windowStart = index.size - window.length;
    this.durable = index.size;
  }

  get count(): number {
    return this.index.size;
  }
  /** Events held parsed in memory. */
  get windowSize(): number {
    return this.window.length - this.head;
  }

  /** The line goes to the file as `JSON.stringify(e) + '\n'`, after every line before it. */
  append(e: AuditEvent): void {
    const length = Buffer.byteLength(JSON.stringify(e), 'utf8') + 1;
    this.index.add(fieldsOf(e), this.bytes, length);
    this.bytes += length;
    this.window.push(e);
    this.trim();
  }

  /** The first `count` events' lines are fsync'd: the window may let go of them. */
  markDurable(count: number): void {
    this.durable = Math.max(this.durable, Math.min(count, this.index.size));
    this.trim();
  }

  query(q: AuditQuery): { events: AuditEvent[]; total: number } {
    const { positions, total } = this.index.select(q);
    return { events: this.eventsAt(positions), total };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The events at these positions (ascending). A line that no longer parses is left out. */
  eventsAt(positions: readonly number[]): AuditEvent[] {
    const out: AuditEvent[] = [];
    let k = 0;
    while (k < positions.length) {
      const p = positions[k]!;
      if (p >= this.windowStart) {
        const e = this.window[this.head + p - this.windowStart];
        if (e) out.push(e);
        k++;
        continue;
      }
      // A run of lines adjacent in the file, all before the window.
      let end = k + 1;
      let bytes = this.index.length(p);
      while (end < positions.length) {
        const q = positions[end]!;
        const prev = positions[end - 1]!;
        if (q >= this.windowStart || this.index.offset(q) !== this.index.offset(prev) + this.index.length(prev)) break;
        if (bytes + this.index.length(q) > MAX_RUN_BYTES) break;
        bytes += this.index.length(q);
        end++;
      }
      for (const e of this.readRun(positions.slice(k, end), bytes)) out.push(e);
      k = end;
    }
    return out;
  }

  private readRun(run: readonly number[], bytes: number): AuditEvent[] {
    const start = this.index.offset(run[0]!);
    const buf = Buffer.allocUnsafe(bytes);
    this.fd ??= openSync(this.file, 'r');
    let got = 0;
    while (got < bytes) {
      const n = readSync(this.fd, buf, got, bytes - got, start + got);
      if (n === 0) break; // the file shrank under us: what is missing is left out
      got += n;
    }
    this.diskReads++;
    const out: AuditEvent[] = [];
    let at = 0;
    for (const p of run) {
      const len = this.index.length(p);
      if (at + len > got) break;
      const entry = parseAuditLine(buf.toString('utf8', at, at + len - 1));
      if ('event' in entry) out.push(entry.event);
      at += len;
    }
    return out;
  }

  private trim(): void {
    const limit = Math.min(this.index.size - this.maxWindow, this.durable);
    while (this.windowStart < limit) {
      this.window[this.head++] = undefined;
      this.windowStart++;
    }
    if (this.head > 4096 && this.head * 2 > this.window.length) {
      this.window = this.window.slice(this.head);
      this.head = 0;
    }
  }
}

export interface OpenedAuditHistory {
  history: FileAuditHistory;
  warnings: string[];
}

/**
 * Indexes the file and parses the newest `maxWindow` events into memory, on one pass where the
 * scan's estimate of where the window starts holds; the lines it missed are read back.
 * `margin`: extra lines parsed before the estimated start (tests shrink it to force read-backs).
 */
export async function openFileAuditHistory(
  file: string,
  maxWindow = DEFAULT_AUDIT_MEMORY_EVENTS,
  margin?: number,
): Promise<OpenedAuditHistory> {
  if (!Number.isSafeInteger(maxWindow) || maxWindow < 0) throw new RangeError(`audit memory window must be a whole number ≥ 0, got ${maxWindow}`);
  const scan = await scanAuditFile(file, { keepLast: maxWindow, ...(margin === undefined ? {} : { margin }) });
  const { index, parsed } = scan;
  const first = Math.max(0, index.size - maxWindow);
  let window = parsed.events;
  let diskReads = 0;
  if (parsed.from > first) {
    // The estimate started parsing late: the window's older events come from the file.
    const loader = new FileAuditHistory(file, index, [], scan.bytes, 0, scan.head);
    const positions = Array.from({ length: parsed.from - first }, (_, k) => first + k);
    const missed = loader.eventsAt(positions);
    diskReads = loader.diskReads;
    loader.close();
    if (missed.length !== positions.length) throw new Error(`audit log ${file} changed while control was reading it at start-up`);
    window = missed.concat(window);
  } else if (parsed.from < first) {
    window = window.slice(first - parsed.from); // not reached: the scan keeps at most maxWindow
  }
  const history = new FileAuditHistory(file, index, window, scan.bytes, maxWindow, scan.head);
  history.startup = { diskReads, parsedLines: scan.parsedLines };
  return { history, warnings: scan.warnings };
}

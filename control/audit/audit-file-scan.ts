/**
 * Start-up indexing of audit.jsonl: reads the file in chunks and indexes every event line without
 * JSON.parse (audit-line-scan.ts), checking order and links the way `loadAuditFile` always has
 * (same warnings, same torn-tail handling: a last line without its newline is completed when it
 * is an event, cut off otherwise). Not every hash: that is `verify`'s job, on demand.
 *
 * The caller's memory window (the newest `keepLast` events) is parsed on the same pass, so start-up
 * reads and parses each line once. Which lines those are is only known at the end: parsing starts
 * where the lines still to come (estimated from the average line length so far) fit the window plus
 * a margin, a ring keeps the newest `keepLast`, and the caller reads back what the estimate missed.
 * A parsed line is indexed from its event (fieldsOf), not scanned again: same fields, same verdict.
 */
import { open, truncate } from 'node:fs/promises';
import { appendRaw } from './audit-file.js';
import type { AuditEvent } from '../../shared/api-types.js';
import { GENESIS_HASH, parseAuditLine, type ChainHead } from './chain.js';
import { AuditIndex } from './audit-index.js';
import { fieldsOf, scanAuditLine, type AuditLineFields } from './audit-line-scan.js';
import { LINE_CHUNK_BYTES, readLines } from '../store/line-reader.js';

export interface ScannedAuditFile {
  index: AuditIndex;
  /** Human-readable problems found (tampering, torn tail); empty when the log is sound. */
  warnings: string[];
  /** The last event's place (undefined when the log holds none). */
  head: ChainHead | undefined;
  /** The file's size after the scan (a torn tail cut off or completed). */
  bytes: number;
  /** The newest events parsed on the way (at most `keepLast`): index positions [from, index.size). */
  parsed: { from: number; events: AuditEvent[] };
  /** Lines JSON.parsed on the way (the window's and the margin's). */
  parsedLines: number;
}

export interface ScanOptions {
  /** Read the lines in chunks of this many bytes. */
  chunkBytes?: number;
  /** Parse (and return) the newest this many events. */
  keepLast?: number;
  /** Extra lines parsed before where the estimate says the window starts; default keepLast/8, ≥ 1024. */
  margin?: number;
}

/** No line that parseAuditLine accepts is shorter (the five required keys, empty values, newline). */
const MIN_EVENT_LINE_BYTES = '{"sequence_num":0,"prev_hash":"","event_hash":"","event_type":"","timestamp":""}\n'.length;

export const defaultParseMargin = (keepLast: number): number => Math.max(1024, keepLast >> 3);

/** The newest `cap` events pushed, in a ring; `from` is the index position of the oldest kept. */
class TailWindow {
  private ring: AuditEvent[] = [];
  private next = 0;
  from = 0;
  constructor(private readonly cap: number) {}
  restart(from: number): void {
    this.ring = [];
    this.next = 0;
    this.from = from;
  }
  push(e: AuditEvent): void {
    if (this.ring.length < this.cap) {
      this.ring.push(e);
      return;
    }
    this.ring[this.next] = e;
    this.next = (this.next + 1) % this.cap;
    this.from++;
  }
  events(): AuditEvent[] {
    return this.next === 0 ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}

export async function scanAuditFile(file: string, opts: ScanOptions = {}): Promise<ScannedAuditFile> {
  const chunkBytes = opts.chunkBytes ?? LINE_CHUNK_BYTES;
  const keepLast = opts.keepLast ?? 0;
  const margin = opts.margin ?? defaultParseMargin(keepLast);
  const tailWindow = new TailWindow(keepLast);
  let parsing = false;
  let parsedLines = 0;
  let size = 0; // the file's size at open
  let linesSeen = 0;
  let index = new AuditIndex();
  const chainWarnings: string[] = [];
  const tornWarnings: string[] = [];
  let head: ChainHead | undefined;
  let expected = 1;
  let prev = GENESIS_HASH;
  let reported = false;

  /** One line [start, end) of buf, without its newline, at file offset `at`. */
  const line = (buf: Buffer, start: number, end: number, at: number): void => {
    linesSeen++;
    if (keepLast > 0) {
      // Lines after this one: at most `after / MIN_EVENT_LINE_BYTES` events, about `after / average`.
      const done = at + end - start + 1;
      const after = size - done;
      const estimate = (after * linesSeen) / done;
      if (after < keepLast * MIN_EVENT_LINE_BYTES || estimate < keepLast + margin) {
        if (!parsing) tailWindow.restart(index.size);
        parsing = true;
      } else if (parsing && estimate > keepLast + 4 * margin) {
        parsing = false; // longer lines early made the estimate start too soon: drop them
        tailWindow.restart(index.size);
      }
    }
    let f: AuditLineFields | { unparsable: string };
    if (parsing) {
      // Same verdict as the scanner (which falls back to exactly this), one parse for both uses.
      const entry = parseAuditLine(buf.toString('utf8', start, end));
      parsedLines++;
      if ('event' in entry) {
        f = fieldsOf(entry.event);
        tailWindow.push(entry.event);
      } else {
        f = entry;
      }
    } else {
      f = scanAuditLine(buf, start, end);
    }
    if ('unparsable' in f) {
      if (!reported) chainWarnings.push(`audit log ${file}: unreadable line where sequence ${expected} should be`);
      reported = true;
      expected++;
      return;
    }
    if (!reported && (f.sequence_num !== expected || f.prev_hash !== prev)) {
      chainWarnings.push(`audit log ${file}: chain breaks at sequence ${expected}; run verify for details`);
      reported = true;
    }
    index.add(f, at, end - start + 1);
    head = { sequence_num: f.sequence_num, event_hash: f.event_hash };
    prev = f.event_hash;
    expected = f.sequence_num + 1;
  };

  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { index, warnings: [], head, bytes: 0, parsed: { from: 0, events: [] }, parsedLines };
    throw err;
  }
  // Sized from the file (lines are rarely under 200 bytes) so the arrays are not regrown on the way.
  size = (await fh.stat()).size;
  index = new AuditIndex(Math.min(64 * 1024 * 1024, Math.ceil(size / 200)));
  let base = 0; // where the next line goes once the scan is done
  try {
    const { tail, tailAt } = await readLines(fh, line, chunkBytes);
    base = tailAt;
    if (tail.length > 0) {
      // The last line has no newline: a crash while appending, or a complete event whose newline
      // did not make it. The journal still holds a torn one and re-appends it.
      const f = scanAuditLine(tail, 0, tail.length);
      if ('unparsable' in f) {
        await truncate(file, base);
        tornWarnings.push(`audit log ${file}: dropped a torn final line (${Buffer.byteLength(tail.toString('utf8'))} bytes)`);
      } else {
        await appendRaw(file, '\n');
        line(Buffer.concat([tail, Buffer.from('\n')]), 0, tail.length, base);
        base += tail.length + 1;
      }
    }
  } finally {
    await fh.close();
  }
  index.compact();
  if (!parsing) tailWindow.restart(index.size);
  const parsed = { from: tailWindow.from, events: tailWindow.events() };
  return { index, warnings: [...tornWarnings, ...chainWarnings], head, bytes: base, parsed, parsedLines };
}

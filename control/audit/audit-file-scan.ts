/**
 * Start-up indexing of audit.jsonl: reads the file in chunks and indexes every event line without
 * JSON.parse (audit-line-scan.ts), checking order and links the way `loadAuditFile` always has
 * (same warnings, same torn-tail handling: a last line without its newline is completed when it
 * is an event, cut off otherwise). Not every hash: that is `verify`'s job, on demand.
 */
import { open, truncate } from 'node:fs/promises';
import { appendRaw } from './audit-file.js';
import { GENESIS_HASH, type ChainHead } from './chain.js';
import { AuditIndex } from './audit-index.js';
import { scanAuditLine } from './audit-line-scan.js';
import { LINE_CHUNK_BYTES, readLines } from '../store/line-reader.js';

export interface ScannedAuditFile {
  index: AuditIndex;
  /** Human-readable problems found (tampering, torn tail); empty when the log is sound. */
  warnings: string[];
  /** The last event's place (undefined when the log holds none). */
  head: ChainHead | undefined;
  /** The file's size after the scan (a torn tail cut off or completed). */
  bytes: number;
}


export async function scanAuditFile(file: string, chunkBytes = LINE_CHUNK_BYTES): Promise<ScannedAuditFile> {
  let index = new AuditIndex();
  const chainWarnings: string[] = [];
  const tornWarnings: string[] = [];
  let head: ChainHead | undefined;
  let expected = 1;
  let prev = GENESIS_HASH;
  let reported = false;

  /** One line [start, end) of buf, without its newline, at file offset `at`. */
  const line = (buf: Buffer, start: number, end: number, at: number): void => {
    const f = scanAuditLine(buf, start, end);
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
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { index, warnings: [], head, bytes: 0 };
    throw err;
  }
  // Sized from the file (lines are rarely under 200 bytes) so the arrays are not regrown on the way.
  index = new AuditIndex(Math.min(64 * 1024 * 1024, Math.ceil((await fh.stat()).size / 200)));
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
  return { index, warnings: [...tornWarnings, ...chainWarnings], head, bytes: base };
}

/**
 * Reads a JSON Lines file in chunks and hands each complete line over as a byte range, without
 * splitting the whole file into strings (audit.jsonl and the task archive can be hundreds of MB).
 * A line longer than the buffer grows it. What follows the last newline (a write cut short, or a
 * last line whose newline never made it) is returned for the caller to judge.
 */
import type { FileHandle } from 'node:fs/promises';

const NL = 0x0a;
export const LINE_CHUNK_BYTES = 8 * 1024 * 1024;

/** `onLine(buf, start, end, at)`: the line is buf[start, end) without its newline, at file offset `at`. */
export async function readLines(
  fh: FileHandle,
  onLine: (buf: Buffer, start: number, end: number, at: number) => void,
  chunkBytes = LINE_CHUNK_BYTES,
): Promise<{ tail: Buffer; tailAt: number }> {
  let buf = Buffer.allocUnsafe(Math.max(16, chunkBytes));
  let have = 0; // bytes in buf
  let base = 0; // file offset of buf[0]
  for (;;) {
    if (have === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2); // a line longer than the buffer
      buf.copy(bigger, 0, 0, have);
      buf = bigger;
    }
    const { bytesRead } = await fh.read(buf, have, buf.length - have, base + have);
    if (bytesRead === 0) break;
    have += bytesRead;
    let start = 0;
    for (let nl = buf.indexOf(NL, start); nl !== -1 && nl < have; nl = buf.indexOf(NL, start)) {
      onLine(buf, start, nl, base + start);
      start = nl + 1;
    }
    buf.copy(buf, 0, start, have);
    have -= start;
    base += start;
  }
  return { tail: Buffer.from(buf.subarray(0, have)), tailAt: base };
}

/** Builds raw tar archives byte by byte, so tests can craft what well-behaved tar writers refuse to make (tar-slip). */
import { gzipSync } from 'node:zlib';

export interface CraftEntry {
  name: string;
  /** '0' file, '5' dir, '2' symlink, '1' hardlink, '3' char device, '6' fifo */
  type?: string;
  data?: string | Buffer;
  linkname?: string;
  /** Declared size when it should differ from data (bombs are gzip of zeros, see craftZeros). */
  mode?: number;
}

function header(e: CraftEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write(((e.mode ?? 0o644).toString(8).padStart(7, '0')) + '\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14641234567\0', 136);
  h.write('        ', 148);
  h.write(e.type ?? '0', 156);
  if (e.linkname) h.write(e.linkname, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

export function craftTar(entries: CraftEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    parts.push(header(e, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const craftTgz = (entries: CraftEntry[]) => gzipSync(craftTar(entries));

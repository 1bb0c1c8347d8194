/**
 * Deterministic tar.gz of a code folder: the same tree gives the same bytes, hence the same
 * sha256 (the snapshot's id), whatever the files' mtimes, owners or the order the disk lists them.
 * Entries are sorted by path; uid/gid 0, no user names, mtime 0; modes normalised to 0644/0755
 * (files keep only "executable or not"), folders 0755; gzip without a timestamp.
 * .gitignore and .fetchmlignore (in any folder) are honoured and .git is always left out.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isIgnored, parseIgnoreFile, type IgnoreRule } from './ignore-rules.js';

export const IGNORE_FILES = ['.gitignore', '.fetchmlignore'] as const;
const ALWAYS_SKIPPED = new Set(['.git']);

export interface SnapshotEntry {
  /** Relative, `/`-separated; folders end with `/`. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  absPath: string;
  executable: boolean;
  size: number;
  linkTarget?: string;
}

export interface SnapshotArchive {
  bytes: Buffer;
  sha256: string;
  files: number;
  /** Sum of the files' sizes before packing. */
  contentBytes: number;
}

/** Lists what a snapshot of `root` contains, sorted, after the ignore rules. */
export async function listSnapshotEntries(root: string): Promise<SnapshotEntry[]> {
  const out: SnapshotEntry[] = [];
  async function walk(relDir: string, inherited: readonly IgnoreRule[]): Promise<void> {
    const absDir = relDir ? join(root, relDir) : root;
    let rules = inherited;
    for (const name of IGNORE_FILES) {
      const text = await readFile(join(absDir, name), 'utf8').catch(() => undefined);
      if (text !== undefined) rules = [...rules, ...parseIgnoreFile(text, relDir)];
    }
    const names = (await readdir(absDir)).sort();
    for (const name of names) {
      if (ALWAYS_SKIPPED.has(name)) continue;
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = join(absDir, name);
      const st = await lstat(abs);
      const isDir = st.isDirectory();
      if (isIgnored(rules, rel, isDir)) continue;
      if (isDir) {
        out.push({ path: `${rel}/`, type: 'dir', absPath: abs, executable: true, size: 0 });
        await walk(rel, rules);
      } else if (st.isFile()) {
        out.push({ path: rel, type: 'file', absPath: abs, executable: (st.mode & 0o111) !== 0, size: st.size });
      } else if (st.isSymbolicLink()) {
        out.push({ path: rel, type: 'symlink', absPath: abs, executable: false, size: 0, linkTarget: await readlink(abs) });
      }
      // sockets, fifos and devices have no place in a code snapshot
    }
  }
  await walk('', []);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export async function createSnapshotArchive(root: string): Promise<SnapshotArchive> {
  const entries = await listSnapshotEntries(root);
  const blocks: Buffer[] = [];
  let files = 0;
  let contentBytes = 0;
  for (const e of entries) {
    if (e.type === 'file') {
      const data = await readFile(e.absPath);
      files++;
      contentBytes += data.length;
      blocks.push(...tarEntry(e.path, '0', e.executable ? 0o755 : 0o644, data));
    } else if (e.type === 'dir') {
      blocks.push(...tarEntry(e.path, '5', 0o755, Buffer.alloc(0)));
    } else {
      blocks.push(...tarEntry(e.path, '2', 0o777, Buffer.alloc(0), e.linkTarget));
    }
  }
  blocks.push(Buffer.alloc(1024)); // end of archive: two zero blocks
  const bytes = gzipSync(Buffer.concat(blocks), { level: 6 });
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), files, contentBytes };
}

// ---- ustar writing -------------------------------------------------------------------------

function tarEntry(path: string, type: '0' | '2' | '5', mode: number, data: Buffer, linkTarget = ''): Buffer[] {
  const out: Buffer[] = [];
  const split = splitUstarName(path);
  const needsPax = !split || Buffer.byteLength(linkTarget) > 100;
  if (needsPax) {
    let records = paxRecord('path', path);
    if (linkTarget) records += paxRecord('linkpath', linkTarget);
    const body = Buffer.from(records, 'utf8');
    out.push(header({ name: 'PaxHeader', prefix: '' }, 'x', 0o644, body.length, ''), pad(body));
  }
  const name = split ?? { name: truncateBytes(path, 100), prefix: '' };
  out.push(header(name, type, mode, data.length, truncateBytes(linkTarget, 100)));
  if (data.length > 0) out.push(pad(data));
  return out;
}

/** ustar stores up to 100 bytes of name plus 155 of prefix, split at a `/`. */
function splitUstarName(path: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix };
  }
  return undefined;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function header(n: { name: string; prefix: string }, type: string, mode: number, size: number, linkname: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(n.name, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0); // mtime
  h.fill(0x20, 148, 156); // checksum placeholder: spaces
  h.write(type, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 8, 'binary');
  h.write(n.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return h;
}

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, width, 'ascii');
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

function truncateBytes(s: string, max: number): string {
  let out = s;
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}

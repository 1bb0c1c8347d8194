/**
 * Safe extraction of snapshot and dataset archives (.tar.gz / .tgz / .tar). The whole archive is
 * checked first (listing pass, nothing written), then extracted with the same checks in tar's
 * filter: only regular files and directories, relative paths without `..`, and caps on entry
 * count, total size and decompression ratio. A bad archive is a TaskFailure('infrastructure').
 */
import { mkdir, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import * as tar from 'tar';
import { TaskFailure } from '../../shared/errors.js';

export interface ExtractLimits {
  /** Sum of the entries' sizes (default 20 GiB). */
  maxBytes?: number;
  /** Number of entries (default 200,000). */
  maxEntries?: number;
  /** Uncompressed / compressed size (default 200). */
  maxRatio?: number;
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

interface EntryLike {
  path: string;
  type: string;
  size?: number;
}

/** Why an entry may not be extracted, or undefined when it may. */
export function entryProblem(e: EntryLike): string | undefined {
  if (!ALLOWED_TYPES.has(e.type)) return `${e.type} entries are not allowed (${e.path})`;
  const p = e.path;
  if (p.includes('\0')) return `path contains a NUL byte`;
  if (p.startsWith('/') || /^[a-zA-Z]:/.test(p) || p.startsWith('\\')) return `absolute path ${p}`;
  if (p.split(/[/\\]/).includes('..')) return `path escapes the workspace: ${p}`;
  return undefined;
}

export async function safeExtractSnapshot(archivePath: string, destDir: string, limits: ExtractLimits = {}): Promise<void> {
  const maxBytes = limits.maxBytes ?? 20 * 1024 ** 3;
  const maxEntries = limits.maxEntries ?? 200_000;
  const maxRatio = limits.maxRatio ?? 200;
  const compressed = Math.max(1, (await stat(archivePath)).size);
  const name = archivePath.split('/').pop();
  const refuse = (why: string) => new TaskFailure('infrastructure', `refusing archive ${name}: ${why}`);

  // Pass 1: list and check every entry; stops reading at the first problem (a bomb is not inflated).
  await new Promise<void>((resolve, reject) => {
    let entries = 0;
    let total = 0;
    let failed = false;
    const input = createReadStream(archivePath);
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      input.destroy();
      reject(err);
    };
    const parser = new tar.Parser({
      strict: true,
      onReadEntry: (entry) => {
        entries++;
        total += entry.size ?? 0;
        const problem =
          entryProblem(entry) ??
          (entries > maxEntries ? `more than ${maxEntries} entries` : undefined) ??
          (total > maxBytes ? `more than ${maxBytes} bytes uncompressed` : undefined) ??
          (total / compressed > maxRatio && total > 1024 * 1024 ? `decompression ratio above ${maxRatio}` : undefined);
        if (problem) fail(refuse(problem));
        entry.resume();
      },
    });
    parser.on('warn', (code: string, message: string) => fail(refuse(`${code}: ${message}`)));
    parser.on('error', (err: Error) => fail(refuse(`unreadable (${err.message})`)));
    parser.on('end', () => {
      if (failed) return;
      if (entries === 0) fail(refuse('no entries (not a tar archive?)'));
      else resolve();
    });
    input.on('error', (err) => fail(refuse(err.message)));
    input.pipe(parser);
  });

  // Pass 2: extract, checking again in the filter in case the file changed in between.
  await mkdir(destDir, { recursive: true });
  let problem: string | undefined;
  await tar
    .x({
      file: archivePath,
      cwd: destDir,
      strict: true,
      preservePaths: false,
      preserveOwner: false,
      noMtime: false,
      filter: (path, entry) => {
        const p = 'type' in entry ? entryProblem({ path, type: entry.type }) : 'unexpected entry';
        if (p) problem ??= p;
        if ('mode' in entry && typeof entry.mode === 'number') entry.mode &= 0o777; // no setuid/setgid/sticky
        return p === undefined;
      },
    })
    .catch((err: Error) => {
      throw refuse(`extraction failed (${err.message})`);
    });
  if (problem) throw refuse(problem);
}

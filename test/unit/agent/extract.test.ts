import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { safeExtractSnapshot } from '../../../agent/workspace/extract.js';
import { TaskFailure } from '../../../shared/errors.js';
import { craftTgz, craftTar, type CraftEntry } from './tar-craft.js';

const root = await mkdtemp(join(tmpdir(), 'fetchml-extract-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;
async function archive(entries: CraftEntry[] | Buffer, gz = true): Promise<{ file: string; dest: string; outside: string }> {
  const dir = join(root, `case${++n}`);
  const file = join(root, `case${n}.tgz`);
  await writeFile(file, Buffer.isBuffer(entries) ? entries : gz ? craftTgz(entries) : craftTar(entries));
  return { file, dest: join(dir, 'ws', 'inner'), outside: dir };
}
const isRefusal = (re: RegExp) => (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure' && re.test(e.message);

describe('safeExtractSnapshot', () => {
  test('extracts regular files and directories; strips setuid bits', async () => {
    const a = await archive([{ name: 'src/', type: '5', mode: 0o755 }, { name: 'src/train.py', data: 'print(1)\n' }, { name: 'run.sh', data: 'echo', mode: 0o4755 }]);
    await safeExtractSnapshot(a.file, a.dest);
    assert.equal(await readFile(join(a.dest, 'src/train.py'), 'utf8'), 'print(1)\n');
    assert.equal((await stat(join(a.dest, 'run.sh'))).mode & 0o7000, 0);
  });

  test('plain .tar works too', async () => {
    const a = await archive([{ name: 'a.txt', data: 'x' }], false);
    await safeExtractSnapshot(a.file, a.dest);
    assert.equal(await readFile(join(a.dest, 'a.txt'), 'utf8'), 'x');
  });

  const bad: Array<[string, CraftEntry[], RegExp]> = [
    ['.. traversal', [{ name: 'ok.txt', data: 'fine' }, { name: '../../evil.txt', data: 'pwned' }], /escapes/],
    ['nested .. traversal', [{ name: 'a/../../evil.txt', data: 'pwned' }], /escapes/],
    ['absolute path', [{ name: '/tmp/fetchml-evil-abs.txt', data: 'pwned' }], /absolute/],
    ['symlink', [{ name: 'link', type: '2', linkname: '/etc/passwd' }, { name: 'link/x', data: 'x' }], /SymbolicLink/],
    ['hardlink', [{ name: 'hl', type: '1', linkname: '/etc/passwd' }], /Link/],
    ['char device', [{ name: 'dev', type: '3' }], /CharacterDevice/],
    ['fifo', [{ name: 'fifo', type: '6' }], /FIFO/],
  ];
  for (const [what, entries, re] of bad) {
    test(`refuses ${what}, writing nothing outside the workspace`, async () => {
      const a = await archive(entries);
      await assert.rejects(safeExtractSnapshot(a.file, a.dest), isRefusal(re));
      // Nothing at all was written: the check pass runs before extraction.
      assert.deepEqual(await readdir(a.outside).catch(() => []), []);
      await assert.rejects(stat('/tmp/fetchml-evil-abs.txt'));
    });
  }

  test('entry count, size and ratio caps', async () => {
    const many = await archive(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: 'x' })));
    await assert.rejects(safeExtractSnapshot(many.file, many.dest, { maxEntries: 10 }), isRefusal(/more than 10 entries/));
    const big = await archive([{ name: 'big', data: Buffer.alloc(100_000, 1) }]);
    await assert.rejects(safeExtractSnapshot(big.file, big.dest, { maxBytes: 50_000 }), isRefusal(/uncompressed/));
    const bomb = await archive([{ name: 'zeros', data: Buffer.alloc(8 * 1024 * 1024) }]);
    await assert.rejects(safeExtractSnapshot(bomb.file, bomb.dest, { maxRatio: 100 }), isRefusal(/ratio/));
    assert.deepEqual(await readdir(bomb.outside).catch(() => []), []);
  });

  test('garbage, truncated and empty archives are refused cleanly', async () => {
    const garbage = await archive(Buffer.from('this is not a tarball at all'.repeat(40)));
    await assert.rejects(safeExtractSnapshot(garbage.file, garbage.dest), isRefusal(/refusing archive/));
    const full = craftTgz([{ name: 'a', data: Buffer.alloc(5000, 7) }]);
    const truncated = await archive(full.subarray(0, Math.floor(full.length / 2)));
    await assert.rejects(safeExtractSnapshot(truncated.file, truncated.dest), isRefusal(/refusing archive/));
    const empty = await archive(Buffer.alloc(0));
    await assert.rejects(safeExtractSnapshot(empty.file, empty.dest), isRefusal(/refusing archive/));
  });
});

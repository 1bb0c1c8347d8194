import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, symlink, utimes, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { createSnapshotArchive, listSnapshotEntries } from '../../../shared/snapshot-archive.js';
import { tempDir } from '../../helpers/tmp.js';

/** Writes the same tree into `root`, files created in the order given (to vary readdir order). */
async function writeTree(root: string, files: Record<string, string>, order: string[]): Promise<void> {
  for (const rel of order) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), files[rel]!);
  }
}

const TREE: Record<string, string> = {
  'train.py': 'print("hi")\n',
  'lib/model.py': 'class M: pass\n',
  'lib/data/loader.py': 'def load(): ...\n',
  'run.sh': '#!/bin/sh\necho run\n',
  'README.md': '# project\n',
};

describe('snapshot archive', () => {
  test('same tree in two copies with different mtimes and creation order → same sha256', async () => {
    await using a = await tempDir();
    await using b = await tempDir();
    const keys = Object.keys(TREE);
    await writeTree(a.path, TREE, keys);
    await writeTree(b.path, TREE, [...keys].reverse());
    await chmod(join(a.path, 'run.sh'), 0o755);
    await chmod(join(b.path, 'run.sh'), 0o775); // other bits differ, "executable" does not
    await utimes(join(b.path, 'train.py'), new Date('2001-01-01'), new Date('2001-01-01'));
    await utimes(join(b.path, 'lib'), new Date('2010-05-05'), new Date('2010-05-05'));
    const first = await createSnapshotArchive(a.path);
    const again = await createSnapshotArchive(a.path);
    const other = await createSnapshotArchive(b.path);
    assert.equal(first.sha256, again.sha256);
    assert.equal(first.sha256, other.sha256);
    assert.equal(first.files, 5);
    assert.match(first.sha256, /^[0-9a-f]{64}$/);
  });

  test('a change of content or of the executable bit changes the sha256', async () => {
    await using a = await tempDir();
    await writeTree(a.path, TREE, Object.keys(TREE));
    const before = await createSnapshotArchive(a.path);
    await chmod(join(a.path, 'run.sh'), 0o755);
    const exec = await createSnapshotArchive(a.path);
    assert.notEqual(exec.sha256, before.sha256);
    await writeFile(join(a.path, 'train.py'), 'print("hi!")\n');
    const edited = await createSnapshotArchive(a.path);
    assert.notEqual(edited.sha256, exec.sha256);
  });

  test('the archive extracts with the tar package to the same files, modes normalised', async () => {
    await using src = await tempDir();
    await using out = await tempDir();
    const long = `${'deep/'.repeat(30)}file-with-a-rather-long-name-${'x'.repeat(120)}.txt`;
    await writeTree(src.path, { ...TREE, [long]: 'long path\n' }, [...Object.keys(TREE), long]);
    await chmod(join(src.path, 'run.sh'), 0o700);
    await symlink('train.py', join(src.path, 'link.py'));
    const archive = await createSnapshotArchive(src.path);
    const file = join(out.path, 'snap.tar.gz');
    await writeFile(file, archive.bytes);
    const listed: Array<{ path: string; mode: number; mtime: number; uid: number }> = [];
    await tar.t({ file, onReadEntry: (e) => listed.push({ path: e.path, mode: e.mode ?? 0, mtime: e.mtime?.getTime() ?? -1, uid: e.uid ?? -1 }) });
    const paths = listed.map((e) => e.path);
    assert.deepEqual(paths, [...paths].sort(), 'entries are sorted');
    assert.ok(paths.includes(long), 'long path kept through a PAX header');
    assert.equal(listed.find((e) => e.path === 'run.sh')?.mode, 0o755);
    assert.equal(listed.find((e) => e.path === 'train.py')?.mode, 0o644);
    assert.ok(listed.every((e) => e.mtime === 0 && e.uid === 0));
    await mkdir(join(out.path, 'x'));
    await tar.x({ file, cwd: join(out.path, 'x') });
    assert.deepEqual((await readdir(join(out.path, 'x'))).sort(), ['README.md', 'deep', 'lib', 'link.py', 'run.sh', 'train.py']);
  });

  test('gzip header carries no timestamp', async () => {
    await using a = await tempDir();
    await writeTree(a.path, TREE, Object.keys(TREE));
    const { bytes } = await createSnapshotArchive(a.path);
    assert.equal(bytes.readUInt32LE(4), 0);
  });

  test('empty folder gives a valid, stable archive', async () => {
    await using a = await tempDir();
    const one = await createSnapshotArchive(a.path);
    const two = await createSnapshotArchive(a.path);
    assert.equal(one.sha256, two.sha256);
    assert.equal(one.files, 0);
  });

  test('honours .gitignore, .fetchmlignore (nested too), negation, dir-only and anchored rules; skips .git', async () => {
    await using a = await tempDir();
    const files: Record<string, string> = {
      '.gitignore': '# build outputs\n*.pyc\ncheckpoints/\n/data\n!keep.pyc\nlogs/**/*.log\n',
      '.fetchmlignore': 'secret.txt\n',
      'train.py': '',
      'a.pyc': '',
      'keep.pyc': '',
      'sub/b.pyc': '',
      'sub/data/x.csv': '', // `/data` is anchored to the root: sub/data stays
      'data/big.bin': '',
      'checkpoints/ep1.pt': '',
      'sub/checkpoints/ep2.pt': '',
      'checkpoints.txt': '', // `checkpoints/` only matches folders
      'logs/a/b/run.log': '',
      'logs/a/b/run.txt': '',
      'secret.txt': '',
      'sub/.fetchmlignore': 'local.cfg\n',
      'sub/local.cfg': '',
      'local.cfg': '', // the nested rule applies below sub/ only
      '.git/HEAD': 'ref: refs/heads/main\n',
    };
    await writeTree(a.path, files, Object.keys(files));
    const paths = (await listSnapshotEntries(a.path)).filter((e) => e.type !== 'dir').map((e) => e.path);
    assert.deepEqual(paths, [
      '.fetchmlignore',
      '.gitignore',
      'checkpoints.txt',
      'keep.pyc',
      'local.cfg',
      'logs/a/b/run.txt',
      'sub/.fetchmlignore',
      'sub/data/x.csv',
      'train.py',
    ]);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskFreeGb, mountFor, probeDisk, type FsEntry } from '../../../agent/probe/disk.js';

const e = (mount: string, size = 100 * 1024 ** 3, available = 40 * 1024 ** 3): FsEntry => ({ mount, size, available });

test('mountFor: the longest mount point that contains the path', () => {
  const entries = [e('/'), e('/var'), e('/var/lib/fetchml'), e('/var/lib/fetch'), e('/data/')];
  assert.equal(mountFor('/var/lib/fetchml/agent', entries)?.mount, '/var/lib/fetchml');
  assert.equal(mountFor('/var/lib/fetchml', entries)?.mount, '/var/lib/fetchml');
  assert.equal(mountFor('/var/lib/fetchmlx', entries)?.mount, '/var', 'a name prefix is not a mount prefix');
  assert.equal(mountFor('/data/x', entries)?.mount, '/data/');
  assert.equal(mountFor('/home/u', entries)?.mount, '/');
  // Garbage from the probe is skipped, never thrown on.
  assert.equal(mountFor('/x', [null as unknown as FsEntry, { mount: 7 } as unknown as FsEntry, e('relative')]), undefined);
});

test('probeDisk: size from the mount, free space of the path; falls back to statfs when fsSize fails', async () => {
  const dir = tmpdir();
  const viaFs = await probeDisk(dir, async () => [e('/', 500 * 1024 ** 3)]);
  assert.equal(viaFs?.mount, '/');
  assert.equal(viaFs?.total_gb, 500);
  assert.ok(viaFs && viaFs.free_gb >= 0 && Number.isFinite(viaFs.free_gb));
  const fallback = await probeDisk(dir, async () => {
    throw new Error('df failed');
  });
  assert.ok(fallback && fallback.total_gb > 0 && fallback.free_gb <= fallback.total_gb, JSON.stringify(fallback));
  assert.equal(await probeDisk(join(dir, 'no', 'such', 'dir'), async () => []), undefined);
});

test('diskFreeGb: a number for a real path, undefined for a missing one', async () => {
  const free = await diskFreeGb(tmpdir());
  assert.ok(typeof free === 'number' && free >= 0);
  assert.equal(await diskFreeGb('/no/such/path/at/all'), undefined);
});

import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentConfig } from '../../../agent/config.js';
import { createPreparer } from '../../../agent/daemon/prepare.js';
import type { Preparer } from '../../../agent/daemon/task-runner.js';
import { DatasetCache, resolveNamedDataset } from '../../../agent/workspace/dataset-cache.js';
import { downloadVerified } from '../../../agent/workspace/download.js';
import { addressProblem, checkSourceAllowed } from '../../../agent/workspace/source-policy.js';
import type { DatasetSpec } from '../../../shared/api-types.js';
import { TaskFailure } from '../../../shared/errors.js';
import { createLogger } from '../../../shared/logger.js';
import type { TaskAssignment } from '../../../shared/protocol.js';
import { craftTgz } from './tar-craft.js';

const root = await mkdtemp(join(tmpdir(), 'fetchml-ds-'));
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const files: Record<string, Buffer> = {
  '/mnist.tgz': craftTgz([{ name: 'train/', type: '5' }, { name: 'train/x.csv', data: '1,2,3\n' }]),
  '/labels.txt': Buffer.from('cat\ndog\n'),
  '/big.bin': Buffer.alloc(3000, 1),
  '/other.bin': Buffer.alloc(3000, 2),
  '/slip.tgz': craftTgz([{ name: '../escape.txt', data: 'x' }]),
};
const hits: Record<string, number> = {};
let server: Server;
let base = '';
before(async () => {
  server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    hits[req.url ?? ''] = (hits[req.url ?? ''] ?? 0) + 1;
    if (req.headers.authorization !== undefined) res.setHeader('x-saw-auth', req.headers.authorization);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await rm(root, { recursive: true, force: true });
});
const refused = (re: RegExp) => (e: unknown) => e instanceof TaskFailure && e.kind === 'infrastructure' && re.test(e.message);

describe('source policy', () => {
  test('address classes', () => {
    for (const a of ['169.254.169.254', '169.254.1.1', 'fe80::1', 'fd00:ec2::254', '::ffff:169.254.169.254', '0.0.0.0']) {
      assert.match(addressProblem(a, true) ?? '', /link-local|metadata/, a);
    }
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '::1', 'fd12::1', '::ffff:10.0.0.1']) {
      assert.match(addressProblem(a, false) ?? '', /private/, a);
      assert.equal(addressProblem(a, true), undefined, a);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '2001:4860:4860::8888']) assert.equal(addressProblem(a, false), undefined, a);
  });

  test('URLs: metadata always refused, loopback only when allowed, only http(s)', async () => {
    await assert.rejects(checkSourceAllowed('http://169.254.169.254/latest/meta-data/', { allowPrivate: true }), refused(/metadata/));
    await assert.rejects(checkSourceAllowed('http://metadata.google.internal/computeMetadata/v1/', { allowPrivate: true }), refused(/metadata/));
    await assert.rejects(checkSourceAllowed('http://[fd00:ec2::254]/', { allowPrivate: true }), refused(/metadata/));
    await assert.rejects(checkSourceAllowed(`${base}/labels.txt`), refused(/private/));
    await assert.rejects(checkSourceAllowed('http://localhost/x'), refused(/private/));
    await checkSourceAllowed(`${base}/labels.txt`, { allowPrivate: true });
    await assert.rejects(checkSourceAllowed('file:///etc/passwd', { allowPrivate: true }), refused(/only http/));
    await assert.rejects(checkSourceAllowed('not a url'), refused(/not a valid URL/));
  });
});

describe('downloadVerified', () => {
  test('streams to the file and checks sha256; headers are sent', async () => {
    const dest = join(root, 'dl', 'labels.txt');
    const r = await downloadVerified(`${base}/labels.txt`, dest, { sha256: sha(files['/labels.txt']!), headers: { authorization: 'Bearer t' } });
    assert.equal(r.bytes, 8);
    assert.equal(await readFile(dest, 'utf8'), 'cat\ndog\n');
  });

  test('a mismatch names what was expected and leaves no file', async () => {
    const dest = join(root, 'dl2', 'labels.txt');
    const want = '0'.repeat(64);
    await assert.rejects(downloadVerified(`${base}/labels.txt`, dest, { sha256: want, label: 'dataset labels' }), refused(new RegExp(`sha256 mismatch for dataset labels: expected ${want}`)));
    assert.deepEqual(await readdir(join(root, 'dl2')), []);
  });

  test('size cap, HTTP errors, and the policy enforced at connect time', async () => {
    await assert.rejects(downloadVerified(`${base}/big.bin`, join(root, 'dl3', 'b'), { maxBytes: 1000 }), refused(/limit/));
    await assert.rejects(downloadVerified(`${base}/missing`, join(root, 'dl3', 'm')), refused(/HTTP 404/));
    await assert.rejects(downloadVerified(`${base}/big.bin`, join(root, 'dl3', 'p'), { allowPrivate: false }), refused(/private/));
  });
});

describe('DatasetCache', () => {
  test('archives are extracted, cached by sha256 and served from cache the second time', async () => {
    const cache = new DatasetCache({ root: join(root, 'cache1'), maxBytes: 1e9, allowPrivate: true });
    const spec = { name: 'mnist', source: `${base}/mnist.tgz`, sha256: sha(files['/mnist.tgz']!) };
    const before = hits['/mnist.tgz'] ?? 0;
    const p1 = await cache.ensure(spec, { workDir: join(root, 'w1') });
    assert.equal(await readFile(join(p1, 'train/x.csv'), 'utf8'), '1,2,3\n');
    const again = new DatasetCache({ root: join(root, 'cache1'), maxBytes: 1e9, allowPrivate: true });
    assert.equal(await again.ensure(spec, { workDir: join(root, 'w1') }), p1);
    assert.equal((hits['/mnist.tgz'] ?? 0) - before, 1);
  });

  test('single files are kept as files; without sha256 they go to the task dir, uncached', async () => {
    const cache = new DatasetCache({ root: join(root, 'cache2'), maxBytes: 1e9, allowPrivate: true });
    const p = await cache.ensure({ name: 'labels', source: `${base}/labels.txt`, sha256: sha(files['/labels.txt']!) }, { workDir: join(root, 'w2') });
    assert.equal(await readFile(p, 'utf8'), 'cat\ndog\n');
    const q = await cache.ensure({ name: 'labels', source: `${base}/labels.txt` }, { workDir: join(root, 'w2') });
    assert.ok(q.startsWith(join(root, 'w2')));
    assert.equal(await readFile(q, 'utf8'), 'cat\ndog\n');
  });

  test('checksum mismatch fails and names the dataset; tar-slip archive is refused', async () => {
    const cache = new DatasetCache({ root: join(root, 'cache3'), maxBytes: 1e9, allowPrivate: true });
    await assert.rejects(cache.ensure({ name: 'imagenet', source: `${base}/labels.txt`, sha256: 'a'.repeat(64) }, { workDir: root }), refused(/dataset imagenet/));
    await assert.rejects(cache.ensure({ name: 'slip', source: `${base}/slip.tgz`, sha256: sha(files['/slip.tgz']!) }, { workDir: root }), refused(/escapes/));
    assert.deepEqual((await readdir(join(root, 'cache3'))).filter((f) => f !== 'index.json'), []);
  });

  test('private sources refused unless allowed; metadata always', async () => {
    const cache = new DatasetCache({ root: join(root, 'cache4'), maxBytes: 1e9 });
    await assert.rejects(cache.ensure({ name: 'x', source: `${base}/labels.txt`, sha256: sha(files['/labels.txt']!) }, { workDir: root }), refused(/private/));
    const open = new DatasetCache({ root: join(root, 'cache4'), maxBytes: 1e9, allowPrivate: true });
    await assert.rejects(open.ensure({ name: 'creds', source: 'http://169.254.169.254/latest/meta-data/iam/' }, { workDir: root }), refused(/metadata/));
  });

  test('LRU eviction keeps the cache under its size, never evicting what is in use', async () => {
    const clock = { t: 0, now() { return ++this.t; } };
    const cache = new DatasetCache({ root: join(root, 'cache5'), maxBytes: 5000, allowPrivate: true, clock });
    const big = { name: 'big', source: `${base}/big.bin`, sha256: sha(files['/big.bin']!) };
    const other = { name: 'other', source: `${base}/other.bin`, sha256: sha(files['/other.bin']!) };
    const pBig = await cache.ensure(big, { workDir: root });
    const pOther = await cache.ensure(other, { workDir: root }); // big still pinned: both kept, over the cap
    assert.ok((await readFile(pBig)).length === 3000 && (await readFile(pOther)).length === 3000);
    cache.release(big);
    cache.release(other);
    await cache.ensure({ name: 'labels', source: `${base}/labels.txt`, sha256: sha(files['/labels.txt']!) }, { workDir: root });
    assert.ok((await cache.totalBytes()) <= 5000);
    await assert.rejects(readFile(pBig)); // least recently used went first
    assert.equal((await readFile(pOther)).length, 3000);
  });

  test('control paths are fetched from control with its headers', async () => {
    const cache = new DatasetCache({ root: join(root, 'cache6'), maxBytes: 1e9, controlUrl: base, controlHeaders: { authorization: 'Bearer agent' } });
    const p = await cache.ensure({ name: 'l', source: '/labels.txt', sha256: sha(files['/labels.txt']!) }, { workDir: root });
    assert.equal(await readFile(p, 'utf8'), 'cat\ndog\n');
  });
});

describe('dataset pins across an agent restart', () => {
  const big = () => ({ name: 'big', source: `${base}/big.bin`, sha256: sha(files['/big.bin']!) });
  const other = () => ({ name: 'other', source: `${base}/other.bin`, sha256: sha(files['/other.bin']!) });
  const labels = () => ({ name: 'labels', source: `${base}/labels.txt`, sha256: sha(files['/labels.txt']!) });

  test('a task pins by owner; pin() after a restart keeps its dataset over the size limit; releaseOwner frees it', async () => {
    const dir = join(root, 'cache-restart');
    const clock = { t: 0, now() { return ++this.t; } };
    const before = new DatasetCache({ root: dir, maxBytes: 5000, allowPrivate: true, clock });
    const pBig = await before.ensure(big(), { workDir: root, owner: 't1#1' });
    // The agent restarts: a new cache on the same directory knows no pins until the resumed task's.
    const cache = new DatasetCache({ root: dir, maxBytes: 5000, allowPrivate: true, clock });
    cache.pin('t1#1', [big(), { name: 'junk', source: 'x', sha256: 'not-a-sha' }, null as never]);
    await cache.ensure(other(), { workDir: root, owner: 't2#1' }); // 6000 bytes > 5000: nothing evictable
    assert.equal((await readFile(pBig)).length, 3000, 'the resumed task still has its dataset');
    assert.ok(cache.isPinned(sha(files['/big.bin']!)));
    cache.releaseOwner('t1#1');
    cache.releaseOwner('t1#1'); // idempotent
    cache.releaseOwner('t2#1');
    await cache.ensure(labels(), { workDir: root });
    assert.ok((await cache.totalBytes()) <= 5000);
    await assert.rejects(readFile(pBig), 'released, least recently used: evicted');
  });

  test('without the pin a restarted cache evicts what a running task uses (what the pin prevents)', async () => {
    const dir = join(root, 'cache-nopin');
    const clock = { t: 0, now() { return ++this.t; } };
    const pBig = await new DatasetCache({ root: dir, maxBytes: 5000, allowPrivate: true, clock }).ensure(big(), { workDir: root, owner: 't1#1' });
    await new DatasetCache({ root: dir, maxBytes: 5000, allowPrivate: true, clock }).ensure(other(), { workDir: root });
    await assert.rejects(readFile(pBig));
  });

  test('the preparer pins per assignment: released when the task ends, pinned again for a resumed one', async () => {
    const dataDir = join(root, 'prep');
    const cfg = { control: base, token: 'tok', runtime: 'process', allowPrivateSources: true, datasetRoots: [] } as Partial<AgentConfig> as AgentConfig;
    const logger = createLogger('test', 'silent');
    const assignment = (id: string, specs: DatasetSpec[]): TaskAssignment => ({
      task_id: id, epoch: 1, job_name: 'j', user_id: 'u', entrypoint: 'x', slot_kind: 'batch', gpu: 0, env: {}, node_rank: 0, node_count: 1, dataset_specs: specs,
    });
    const prepareIn = async (prep: Preparer, a: TaskAssignment) => {
      const workspace = join(dataDir, 'tasks', a.task_id, 'workspace');
      await mkdir(workspace, { recursive: true });
      await prep({ assignment: a, workspace, signal: new AbortController().signal });
      return workspace;
    };
    const a1 = assignment('t1', [{ ...big(), mount_path: 'data/big.bin' }]);
    const ws1 = await prepareIn(createPreparer(cfg, dataDir, logger, { cacheMaxBytes: 5000 }), a1);
    assert.equal((await readFile(join(ws1, 'data/big.bin'))).length, 3000);
    // Restart: the resumed task's datasets are pinned before any new task fills the cache.
    const prep = createPreparer(cfg, dataDir, logger, { cacheMaxBytes: 5000 });
    prep.pin!(a1);
    const a2 = assignment('t2', [other()]);
    await prepareIn(prep, a2);
    assert.equal((await readFile(join(ws1, 'data/big.bin'))).length, 3000, 'not evicted under the running task');
    prep.release!(a1);
    prep.release!(a2);
    await prepareIn(prep, assignment('t3', [labels()]));
    await assert.rejects(readFile(join(ws1, 'data/big.bin')), 'evicted once its task ended');
  });
});

describe('named datasets', () => {
  test('resolve under roots; paths and .. refused', async () => {
    const r1 = join(root, 'roots', 'a');
    const r2 = join(root, 'roots', 'b');
    await mkdir(join(r2, 'cifar'), { recursive: true });
    await writeFile(join(r2, 'cifar', 'x'), '');
    assert.equal(await resolveNamedDataset('cifar', [r1, r2]), join(r2, 'cifar'));
    await assert.rejects(resolveNamedDataset('missing', [r1, r2]), refused(/not found/));
    for (const bad of ['../etc', 'a/b', '..', '', '/etc']) await assert.rejects(resolveNamedDataset(bad, [r2]), refused(/plain name/));
  });
});

test('the connect-time lookup refuses a name that resolves to loopback', async () => {
  const port = new URL(base).port;
  await assert.rejects(downloadVerified(`http://localhost:${port}/labels.txt`, join(root, 'dl4', 'x'), { allowPrivate: false }), refused(/private/));
  await downloadVerified(`http://localhost:${port}/labels.txt`, join(root, 'dl4', 'y'), { allowPrivate: true });
});

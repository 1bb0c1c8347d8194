import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { create as tarCreate } from 'tar';
import { startCluster, type Cluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function tarball(dir: string, files: string[], opts: { preservePaths?: boolean } = {}): Promise<Buffer> {
  const out = join(dir, `${Math.random().toString(36).slice(2)}.tar.gz`);
  await tarCreate({ gzip: true, cwd: dir, file: out, portable: true, ...opts }, files);
  return readFile(out);
}

async function findFiles(dir: string, name: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.name === name) out.push(join(e.parentPath ?? dir, e.name));
  return out;
}

describe('snapshots and datasets on a real agent', () => {
  let c: Cluster;
  let http: Server;
  let httpUrl = '';
  const data = Buffer.from('0123456789\n');
  before(async () => {
    c = await startCluster();
    c.startAgent('ws', { args: ['--allow-private-sources'] });
    http = createServer((req, res) => (req.url === '/data.txt' ? res.end(data) : res.writeHead(404).end()));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const a = http.address();
    httpUrl = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    await waitFor(async () => (await c.workers()).length === 1, { what: 'worker' });
  });
  after(async () => {
    http.close();
    await c.close();
  });

  test('a snapshot with train.py runs as python3 train.py ARGS in its workspace, with a dataset from the cache', async () => {
    const src = join(c.dir, 'src');
    await mkdir(join(src, 'pkg'), { recursive: true });
    await writeFile(join(src, 'train.py'), "import sys, os\nprint('args', sys.argv[1:])\nprint('data', open(os.path.join(os.environ['FETCHML_WORKSPACE'], 'datasets/digits')).read().strip())\nprint(open('pkg/conf.txt').read().strip())\n");
    await writeFile(join(src, 'pkg', 'conf.txt'), 'lr=0.1\n');
    const tgz = await tarball(src, ['train.py', 'pkg']);
    const id = sha(tgz);
    const put = await c.api('PUT', `/v1/snapshots/${id}`, new Uint8Array(tgz));
    assert.ok(put.status === 201 || put.status === 200, `PUT snapshot answered ${put.status}`);
    const t = await c.submit({ entrypoint: 'train.py', args: '--epochs 3', snapshot_id: id, dataset_specs: [{ name: 'digits', source: `${httpUrl}/data.txt`, sha256: sha(data), mount_path: 'datasets/digits' }] });
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    const log = (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body;
    assert.equal(done.status, 'completed', `${done.error}\n${log}`);
    assert.equal(log, "args ['--epochs', '3']\ndata 0123456789\nlr=0.1\n");
  });

  test('a tar-slip archive is refused in preparing as an infrastructure failure; nothing lands outside the workspace', async () => {
    const evilDir = join(c.dir, 'evil', 'inner');
    await mkdir(evilDir, { recursive: true });
    await writeFile(join(c.dir, 'evil', 'slipped-out.txt'), 'pwned\n');
    const tgz = await tarball(evilDir, ['../slipped-out.txt'], { preservePaths: true });
    const id = sha(tgz);
    assert.ok([200, 201].includes((await c.api('PUT', `/v1/snapshots/${id}`, new Uint8Array(tgz))).status));
    const t = await c.submit({ entrypoint: '/bin/true', snapshot_id: id, max_retries: 0 });
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'failed');
    assert.equal(done.failure_kind, 'infrastructure');
    assert.equal(done.started_at, undefined, 'the entrypoint never started');
    assert.match(done.error ?? '', /\.\./);
    const found = await findFiles(join(c.dir, 'agent-ws'), 'slipped-out.txt');
    assert.deepEqual(found, []);
  });

  test('a dataset checksum mismatch fails the task and names the dataset', async () => {
    const t = await c.submit({ entrypoint: '/bin/true', max_retries: 0, dataset_specs: [{ name: 'corrupt-set', source: `${httpUrl}/data.txt`, sha256: 'a'.repeat(64) }] });
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'failed');
    assert.equal(done.failure_kind, 'infrastructure');
    assert.match(done.error ?? '', /corrupt-set/);
    assert.match(done.error ?? '', /sha256|checksum/i);
  });

  test('an infrastructure failure is retried up to max_retries, then fails', async () => {
    const t = await c.submit({ entrypoint: '/bin/true', max_retries: 1, dataset_specs: [{ name: 'gone', source: `${httpUrl}/missing`, sha256: 'b'.repeat(64) }] });
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'failed');
    assert.equal(done.retry_count, 1);
  });
});

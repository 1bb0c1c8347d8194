import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';
import { processAlive } from '../helpers/process.js';

describe('control + 2 agents (2 and 1 fake GPUs), process runtime', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    c.startAgent('two', { fixture: '2gpu' });
    c.startAgent('one', { fixture: '1gpu' });
    await waitFor(async () => (await c.workers()).filter((w) => w.status === 'active').length === 2, { what: '2 workers', timeoutMs: 20_000 });
  });
  after(() => c.close());

  test('workers report their GPUs, slots, whole-GB memory and the disk of their data dir', async () => {
    const ws = await c.workers();
    assert.deepEqual(ws.map((w) => w.capabilities.gpu_count).sort(), [1, 2]);
    for (const w of ws) {
      assert.equal(w.slots.batch_total, w.capabilities.gpu_count);
      assert.ok(Number.isInteger(w.capabilities.memory_gb) && w.capabilities.memory_gb > 0);
      const { disk_total_gb: total, disk_free_gb: free } = w.capabilities;
      assert.ok(typeof total === 'number' && total > 0, `disk_total_gb ${String(total)}`);
      assert.ok(typeof free === 'number' && free >= 0 && free <= total, `disk_free_gb ${String(free)}`);
    }
  });

  test('GPU tasks get disjoint GPUs; a fourth waits until one is free', async () => {
    const script = "echo CUDA=$CUDA_VISIBLE_DEVICES; echo TASK=$FETCHML_TASK_ID; sleep 1.5";
    const tasks = await Promise.all([0, 1, 2, 3].map(() => c.submit({ gpu: 1, entrypoint: `/bin/sh -c '${script}'` })));
    const three = await waitFor(
      async () => {
        const ts = await Promise.all(tasks.map((t) => c.task(t.id)));
        const placed = ts.filter((t) => t.status === 'running');
        return placed.length === 3 ? ts : undefined;
      },
      { what: '3 tasks running at once' },
    );
    assert.equal(three.filter((t) => t.status === 'queued').length, 1, 'the fourth task waits for a GPU');
    const done = await Promise.all(tasks.map((t) => c.waitStatus(t.id, ['completed', 'failed'])));
    const grants = new Set<string>();
    for (const t of done) {
      assert.equal(t.status, 'completed', t.error);
      const log = (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body;
      assert.match(log, new RegExp(`TASK=${t.id}`));
      const cuda = /CUDA=(\S*)/.exec(log)?.[1];
      assert.ok(cuda !== undefined && /^\d$/.test(cuda), `one GPU index, got ${cuda}`);
      grants.add(`${t.worker_id}/${cuda}`);
    }
    // The first three ran at the same time on 3 distinct (worker, GPU) pairs; the 4th reused a freed one.
    const firstThree = new Set(three.filter((t) => t.status === 'running').map((t) => t.id));
    const pairs = done.filter((t) => firstThree.has(t.id));
    assert.equal(new Set(await Promise.all(pairs.map(async (t) => `${t.worker_id}/${/CUDA=(\S*)/.exec((await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body)?.[1]}`))).size, 3);
    assert.ok(grants.size >= 3);
  });

  test('exit codes: 0 completes, non-zero fails as the entrypoint, logs kept', async () => {
    const ok = await c.submit({ entrypoint: "/bin/sh -c 'echo all good'" });
    const bad = await c.submit({ entrypoint: "/bin/sh -c 'echo to stderr >&2; exit 7'" });
    const okT = await c.waitStatus(ok.id, ['completed', 'failed']);
    const badT = await c.waitStatus(bad.id, ['completed', 'failed']);
    assert.equal(okT.status, 'completed');
    assert.equal(okT.exit_code, 0);
    assert.ok(okT.started_at && okT.ended_at && okT.worker_id);
    assert.equal(badT.status, 'failed');
    assert.equal(badT.exit_code, 7);
    assert.equal(badT.failure_kind, 'entrypoint');
    assert.match(badT.error ?? '', /code 7/);
    assert.equal((await c.api<string>('GET', `/v1/tasks/${bad.id}/logs`)).body, 'to stderr\n');
    assert.equal(badT.output, 'to stderr\n');
  });

  test('a multi-line, multi-chunk log arrives whole', async () => {
    const t = await c.submit({ entrypoint: "/bin/sh -c 'i=0; while [ $i -lt 20000 ]; do echo line-$i-héllo; i=$((i+1)); done'" });
    await c.waitStatus(t.id, ['completed']);
    const log = (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body;
    const lines = log.trimEnd().split('\n');
    assert.equal(lines.length, 20000);
    assert.equal(lines[19999], 'line-19999-héllo');
  });

  test('cancel stops a running task within the grace period', async () => {
    const t = await c.submit({ entrypoint: "/bin/sh -c 'echo pid=$$; exec sleep 60'" });
    await c.waitStatus(t.id, ['running']);
    const pid = Number(await waitFor(async () => /pid=(\d+)/.exec((await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body)?.[1], { what: 'pid in log' }));
    const r = await c.api('DELETE', `/v1/tasks/${t.id}`);
    assert.ok(r.status === 200 || r.status === 204, `DELETE answered ${r.status}`);
    await waitFor(
      () => !processAlive(pid),
      { timeoutMs: 5000, what: 'the cancelled process to exit' },
    );
    assert.equal((await c.task(t.id)).status, 'cancelled');
  });

  test('a gang larger than the cluster stays queued with a reason', async () => {
    const t = await c.submit({ entrypoint: '/bin/true', node_count: 3 });
    const q = await waitFor(async () => {
      const x = await c.task(t.id);
      return x.pending_reason ? x : undefined;
    });
    assert.equal(q.status, 'queued');
    assert.match(q.pending_reason ?? '', /3 nodes/);
    await c.api('DELETE', `/v1/tasks/${t.id}`);
  });
});

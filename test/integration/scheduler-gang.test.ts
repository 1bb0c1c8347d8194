/**
 * Multi-node tasks on real agents: two nodes on two distinct workers, each with its rank and the
 * same rendezvous (MASTER_ADDR/PORT); a failing node ends the whole gang (no half-running gang).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ADMIN_KEY, startCluster, type Cluster } from './agent-cluster.js';
import { runFetchml } from './cli-harness.js';
import { waitFor } from '../helpers/wait.js';
import { processAlive } from '../helpers/process.js';

describe('2-node gangs (two agents, one fake GPU each)', () => {
  let c: Cluster;
  const nodeLog = (id: string, rank: number) => readFile(join(c.dir, 'control', 'logs', rank === 0 ? `${id}.log` : `${id}_node${rank}.log`), 'utf8');

  before(async () => {
    c = await startCluster({ FETCHML_MASTER_PORT_RANGE: '31000-31999' });
    c.startAgent('n1', { fixture: '1gpu' });
    c.startAgent('n2', { fixture: '1gpu' });
    await waitFor(async () => (await c.workers()).filter((w) => w.status === 'active').length === 2, { what: '2 workers', timeoutMs: 20_000 });
  });
  after(() => c.close());

  test('each node gets its rank, the same MASTER_ADDR/PORT and WORLD_SIZE = nodes × GPUs', async () => {
    const script = 'echo RANK=$NODE_RANK NNODES=$NNODES WORLD=$WORLD_SIZE ADDR=$MASTER_ADDR PORT=$MASTER_PORT F=$FETCHML_NODE_RANK/$FETCHML_NNODES/$FETCHML_WORLD_SIZE/$FETCHML_MASTER_ADDR/$FETCHML_MASTER_PORT';
    const t = await c.submit({ node_count: 2, gpu: 1, entrypoint: `/bin/sh -c '${script}'` });
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'completed', done.error);
    const na = done.node_assignments ?? [];
    assert.deepEqual(na.map((a) => a.node_id), [0, 1]);
    assert.equal(new Set(na.map((a) => a.worker_id)).size, 2, 'distinct workers');
    assert.equal(done.worker_id, na[0]!.worker_id);
    const lines = await Promise.all([0, 1].map(async (r) => (await nodeLog(t.id, r)).trim()));
    const parsed = lines.map((l) => Object.fromEntries(l.split(' ').map((kv) => kv.split('=') as [string, string])));
    assert.deepEqual(parsed.map((p) => p.RANK), ['0', '1']);
    for (const p of parsed) {
      assert.equal(p.NNODES, '2');
      assert.equal(p.WORLD, '2');
      assert.ok(p.ADDR && p.ADDR.length > 0);
      assert.ok(Number(p.PORT) >= 31000 && Number(p.PORT) <= 31999, `port ${p.PORT} in the configured range`);
      assert.equal(p.F, `${p.RANK}/2/2/${p.ADDR}/${p.PORT}`);
    }
    assert.equal(parsed[0]!.ADDR, parsed[1]!.ADDR);
    assert.equal(parsed[0]!.PORT, parsed[1]!.PORT);
    // The task's own log (rank 0) is what the API serves.
    assert.match((await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body, /RANK=0 /);
  });

  test('every rank\'s log is served: GET …/logs?node=r (follow too) and fetchml logs --node r', async () => {
    // Each rank prints, then waits for a go file so the logs can be followed while it runs.
    const go = join(c.dir, 'go-logs');
    const script = `echo hello from rank $NODE_RANK; while [ ! -e ${go} ]; do sleep 0.05; done; echo bye from rank $NODE_RANK`;
    const t = await c.submit({ node_count: 2, gpu: 1, entrypoint: `/bin/sh -c '${script}'` });
    await c.waitStatus(t.id, ['running']);
    // follow=true on rank 1 streams until the task ends.
    const followed = fetch(`${c.url}/v1/tasks/${t.id}/logs?follow=true&node=1`, { headers: { 'x-api-key': ADMIN_KEY } }).then((r) => r.text());
    await waitFor(async () => /hello from rank 1/.test((await c.api<string>('GET', `/v1/tasks/${t.id}/logs?node=1`)).body), { what: 'rank 1 greeting' });
    await writeFile(go, '');
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'completed', done.error);
    assert.equal(await followed, 'hello from rank 1\nbye from rank 1\n');
    assert.equal((await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body, 'hello from rank 0\nbye from rank 0\n');
    assert.equal((await c.api<string>('GET', `/v1/tasks/${t.id}/logs?node=0`)).body, 'hello from rank 0\nbye from rank 0\n');
    assert.equal((await c.api<string>('GET', `/v1/tasks/${t.id}/logs?node=1`)).body, 'hello from rank 1\nbye from rank 1\n');
    // A rank the task does not have: 404 in the error shape; nonsense ranks are 422/400, never 5xx.
    const missing = await c.api<{ code: string }>('GET', `/v1/tasks/${t.id}/logs?node=2`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'NOT_FOUND');
    for (const bad of ['-1', 'x', '1.5', '64']) {
      const r = await c.api('GET', `/v1/tasks/${t.id}/logs?node=${bad}`);
      assert.ok(r.status >= 400 && r.status < 500, `node=${bad} answered ${r.status}`);
    }
    // A one-node task has only rank 0.
    const single = await c.submit({ entrypoint: '/bin/true' });
    assert.equal((await c.api('GET', `/v1/tasks/${single.id}/logs?node=1`)).status, 404);
    // The CLI.
    const env = { FETCHML_URL: c.url, FETCHML_API_KEY: ADMIN_KEY, XDG_CONFIG_HOME: join(c.dir, 'cfg') };
    const cli1 = await runFetchml(['logs', '--node', '1', t.id], { env });
    assert.equal(cli1.exitCode, 0, cli1.stderr);
    assert.equal(cli1.stdout, 'hello from rank 1\nbye from rank 1'); // execa strips the final newline
    const cliF = await runFetchml(['logs', '-f', '--node', '1', t.id], { env });
    assert.equal(cliF.exitCode, 0, cliF.stderr);
    assert.equal(cliF.stdout, 'hello from rank 1\nbye from rank 1');
    const cli2 = await runFetchml(['logs', '--node', '2', t.id], { env });
    assert.notEqual(cli2.exitCode, 0);
    assert.match(cli2.stderr, /not found/i);
  });

  test('one node failing stops the other and fails the gang as a unit', async () => {
    // Rank 1 exits 3 once rank 0 is up; rank 0 would otherwise sleep for a minute.
    const script = 'if [ "$NODE_RANK" = 0 ]; then echo pid=$$; exec sleep 60; else sleep 0.5; exit 3; fi';
    const t = await c.submit({ node_count: 2, gpu: 1, entrypoint: `/bin/sh -c '${script}'` });
    const done = await c.waitStatus(t.id, ['completed', 'failed'], 20_000);
    assert.equal(done.status, 'failed');
    assert.equal(done.failure_kind, 'entrypoint');
    assert.match(done.error ?? '', /node 1 .*code 3/);
    const pid = Number(/pid=(\d+)/.exec(await nodeLog(t.id, 0))?.[1]);
    assert.ok(pid > 0);
    await waitFor(() => !processAlive(pid), { what: 'rank 0 stopped', timeoutMs: 10_000 });
    // Both workers are free again: a new gang runs.
    const again = await c.submit({ node_count: 2, gpu: 1, entrypoint: '/bin/true' });
    assert.equal((await c.waitStatus(again.id, ['completed', 'failed'])).status, 'completed');
  });

  test('a gang that cannot fit waits whole: no node starts alone', async () => {
    const t = await c.submit({ node_count: 2, gpu: 2, entrypoint: '/bin/true' });
    const q = await waitFor(async () => {
      const x = await c.task(t.id);
      return x.pending_reason ? x : undefined;
    }, { what: 'a pending reason', timeoutMs: 10_000 });
    assert.equal(q.status, 'queued');
    assert.equal(q.node_assignments, undefined);
    assert.match(q.pending_reason ?? '', /needs 2 nodes/);
    assert.equal((await c.api('DELETE', `/v1/tasks/${t.id}`)).status, 204);
  });
});

describe('a gang node’s worker lost (worker timeout 1 s)', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ FETCHML_WORKER_TIMEOUT: '1' });
    c.startAgent('keep', { fixture: '1gpu' });
    await waitFor(async () => (await c.workers()).filter((w) => w.status === 'active').length === 1, { what: 'first worker', timeoutMs: 20_000 });
  });
  after(() => c.close());

  test('the other node is stopped and the gang requeued as a unit', async () => {
    const doomed = c.startAgent('doomed', { fixture: '1gpu' });
    await waitFor(async () => (await c.workers()).filter((w) => w.status === 'active').length === 2, { what: '2 workers', timeoutMs: 20_000 });
    const t = await c.submit({ node_count: 2, gpu: 1, entrypoint: `/bin/sh -c 'echo pid=$$; exec sleep 60'` });
    const running = await c.waitStatus(t.id, ['running']);
    const lostWorker = running.node_assignments!.find((a) => a.node_id === 1)!.worker_id;
    const rank0Log = join(c.dir, 'control', 'logs', `${t.id}.log`);
    const rank0Pid = Number(await waitFor(async () => /pid=(\d+)/.exec(await readFile(rank0Log, 'utf8').catch(() => ''))?.[1], { what: 'rank 0 pid' }));
    const doomedIsRank1 = (await c.workers()).find((w) => w.id === lostWorker)?.name === 'doomed';
    await doomed.kill('SIGKILL');
    const requeued = await c.waitStatus(t.id, ['queued', 'failed'], 10_000);
    if (doomedIsRank1) {
      // Rank 0 (still connected) was told to stop: the gang is not left half-running.
      await waitFor(() => !processAlive(rank0Pid), { what: 'rank 0 stopped', timeoutMs: 10_000 });
    }
    assert.equal(requeued.status, 'queued');
    assert.equal(requeued.retry_count, 1);
    assert.equal(requeued.node_assignments, undefined);
    // One worker left: the gang waits whole.
    const waiting = await waitFor(async () => {
      const x = await c.task(t.id);
      return x.status === 'queued' && /needs 2 nodes/.test(x.pending_reason ?? '') ? x : undefined;
    }, { what: 'gang waits for 2 nodes', timeoutMs: 10_000 });
    assert.equal(waiting.worker_id, undefined);
    await c.api('DELETE', `/v1/tasks/${t.id}`);
    // Processes of a SIGKILLed agent outlive it by design: clean up the orphan.
    for (const f of [`${t.id}.log`, `${t.id}_node1.log`]) {
      const pid = Number(/pid=(\d+)/.exec(await readFile(join(c.dir, 'control', 'logs', f), 'utf8').catch(() => ''))?.[1]);
      if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

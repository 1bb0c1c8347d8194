/**
 * What a task has beyond its entrypoint survives an agent kill -9: its tracking-plugin sidecars
 * (a live one is adopted, a dead one restarted on the port the task was given; both reported
 * healthy after the restart and stopped with the task, nothing left running) and its cached
 * datasets (pinned again, so a new task filling the cache does not evict them).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { isLive } from '../../agent/runtime/proc-fs.js';
import type { PluginStatus } from '../../shared/api-types.js';
import { fixturesDir } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { killPrintedPid, startCluster } from './agent-cluster.js';

/** A stand-in for tensorboard and mlflow: serves 200, records its pid and its child's (a sleep in its group). */
const FAKE_TOOL = `#!/usr/bin/env node
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const arg = (n) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : undefined; };
const me = path.basename(process.argv[1]);
const kid = spawn('sleep', ['300'], { stdio: 'ignore' });
fs.appendFileSync(path.join(process.env.FAKE_PIDDIR, me + '.pids'), process.pid + ' ' + kid.pid + '\\n');
http.createServer((req, res) => res.end(me)).listen(Number(arg('--port')), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

let tmp: Awaited<ReturnType<typeof tempDir>>;
let http: Server;
let httpUrl = '';
const blobs: Record<string, Buffer> = { '/a.bin': Buffer.alloc(3000, 1), '/b.bin': Buffer.alloc(3000, 2), '/c.bin': Buffer.alloc(3000, 3) };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  tmp = await tempDir('fetchml-restart-extras-');
  for (const tool of ['tensorboard', 'mlflow']) {
    await writeFile(join(tmp.path, tool), FAKE_TOOL);
    await chmod(join(tmp.path, tool), 0o755);
  }
  http = createServer((req, res) => {
    const b = blobs[req.url ?? ''];
    if (!b) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': b.length }).end(b);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const a = http.address();
  httpUrl = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
after(async () => {
  await new Promise((r) => http.close(r));
  await tmp[Symbol.asyncDispose]();
});

/** [leader, child] pids each start of a fake tool wrote, oldest first. */
async function pidsOf(tool: string): Promise<Array<[number, number]>> {
  const raw = await readFile(join(tmp.path, `${tool}.pids`), 'utf8').catch(() => '');
  return raw.trim().split('\n').filter(Boolean).map((l) => l.split(' ').map(Number) as [number, number]);
}

function killGroups(pids: Array<[number, number]>): void {
  for (const [leader, child] of pids) {
    for (const p of [-leader, child]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

const checkedAfter = (s: PluginStatus | undefined, t: number) => s?.status === 'healthy' && Date.parse(s.last_check ?? '') > t;

test('kill -9 of the agent: a live sidecar is adopted, a dead one restarted on its port; both healthy after, stopped with the task', async () => {
  const c = await startCluster();
  const env = {
    PATH: `${tmp.path}:${join(fixturesDir, 'bin-nvidia')}:${process.env.PATH}`,
    FAKE_PIDDIR: tmp.path,
    FETCHML_SIDECAR_READY_SECONDS: '5',
    FETCHML_SIDECAR_CHECK_SECONDS: '0.2',
  };
  const go = join(tmp.path, 'go-sidecars');
  let log = '';
  try {
    let agent = c.startAgent('s', { env });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'an active worker' });
    const fetchBoth = `node -e "Promise.all([process.env.FETCHML_TENSORBOARD_URL, process.env.MLFLOW_TRACKING_URI].map(async (u) => (await fetch(u)).text())).then((x) => console.log(\\"GOT=\\" + x.join(\\",\\")))"`;
    const t = await c.submit({
      entrypoint: `/bin/sh -c 'echo pid=$$; while [ ! -e ${go} ]; do sleep 0.05; done; ${fetchBoth}'`,
      plugin_configs: { tensorboard: { mode: 'sidecar' }, mlflow: { mode: 'sidecar' } },
    });
    const running = await waitFor(async () => {
      const x = await c.task(t.id);
      return x.status === 'running' && x.plugin_status?.tensorboard?.status === 'healthy' && x.plugin_status?.mlflow?.status === 'healthy' ? x : undefined;
    }, { what: 'the task running with both sidecars healthy' });
    log = await waitFor(async () => ((await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body.includes('pid=') ? (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body : undefined));
    const [tb] = await pidsOf('tensorboard');
    const [ml] = await pidsOf('mlflow');
    assert.ok(tb && ml);

    agent.child.kill('SIGKILL');
    await agent.exited;
    assert.equal(await isLive(tb[0]), true, 'the sidecar outlives the agent (own process group)');
    // mlflow dies while the agent is down: the restarted agent must start it again on its port.
    process.kill(-ml[0], 'SIGKILL');
    await waitFor(async () => !(await isLive(ml[0])), { what: 'mlflow to die' });
    const downAt = Date.now();

    agent = c.startAgent('s', { env });
    const after = await waitFor(async () => {
      const x = await c.task(t.id);
      return checkedAfter(x.plugin_status?.tensorboard, downAt) && checkedAfter(x.plugin_status?.mlflow, downAt) ? x : undefined;
    }, { what: 'both sidecars reported healthy by the restarted agent' });
    assert.equal(after.status, 'running');
    assert.equal(after.plugin_status!.tensorboard!.url, running.plugin_status!.tensorboard!.url);
    assert.equal(after.plugin_status!.mlflow!.url, running.plugin_status!.mlflow!.url, 'restarted on the same port');
    assert.deepEqual(await pidsOf('tensorboard'), [tb], 'tensorboard was adopted, not started again');
    const mls = await pidsOf('mlflow');
    assert.equal(mls.length, 2, 'mlflow was started again');

    await writeFile(go, '');
    const done = await c.waitStatus(t.id, ['completed', 'failed']);
    assert.equal(done.status, 'completed', done.error);
    log = (await c.api<string>('GET', `/v1/tasks/${t.id}/logs`)).body;
    assert.match(log, /^GOT=tensorboard,mlflow$/m, 'the task reached both sidecars at the addresses it was given');
    await waitFor(async () => {
      const x = await c.task(t.id);
      return x.plugin_status?.tensorboard?.status === 'stopped' && x.plugin_status?.mlflow?.status === 'stopped';
    }, { what: 'both sidecars reported stopped' });
    for (const [leader, child] of [tb, ...mls]) {
      await waitFor(async () => !(await isLive(leader)) && !(await isLive(child)), { what: `sidecar ${leader} and its child ${child} gone`, timeoutMs: 5000 });
    }
  } finally {
    killPrintedPid(log);
    killGroups([...(await pidsOf('tensorboard')), ...(await pidsOf('mlflow'))]);
    await c.close();
  }
});

test("kill -9 of the agent: a resumed task's cached dataset is not evicted when a new task fills the cache; released when it ends", async () => {
  const c = await startCluster();
  const go = join(tmp.path, 'go-datasets');
  const spec = (n: 'a' | 'b' | 'c') => ({ name: n, source: `${httpUrl}/${n}.bin`, sha256: sha(blobs[`/${n}.bin`]!) });
  // Room for one dataset: the second one puts the cache over its limit.
  const args = ['--allow-private-sources', '--batch-slots', '2'];
  const env = { FETCHML_DATASET_CACHE_GB: String(5000 / 1024 ** 3) };
  const cacheEntry = (n: 'a' | 'b' | 'c') => join(c.dir, 'agent-d', 'cache', 'datasets', spec(n).sha256);
  let log = '';
  try {
    let agent = c.startAgent('d', { args, env });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'an active worker' });
    const t1 = await c.submit({ entrypoint: `/bin/sh -c 'echo pid=$$; while [ ! -e ${go} ]; do sleep 0.05; done; wc -c < datasets/a'`, dataset_specs: [spec('a')] });
    await c.waitStatus(t1.id, ['running']);
    log = await waitFor(async () => {
      const l = (await c.api<string>('GET', `/v1/tasks/${t1.id}/logs`)).body;
      return l.includes('pid=') ? l : undefined;
    });
    agent.child.kill('SIGKILL');
    await agent.exited;
    agent = c.startAgent('d', { args, env });
    const t2 = await c.submit({ entrypoint: '/bin/sh -c "wc -c < datasets/b"', dataset_specs: [spec('b')] });
    const d2 = await c.waitStatus(t2.id, ['completed', 'failed']);
    assert.equal(d2.status, 'completed', d2.error);
    assert.ok(existsSync(cacheEntry('a')), 'the resumed task keeps its dataset though the cache is over its limit');
    await writeFile(go, '');
    const d1 = await c.waitStatus(t1.id, ['completed', 'failed']);
    assert.equal(d1.status, 'completed', d1.error);
    assert.match((await c.api<string>('GET', `/v1/tasks/${t1.id}/logs`)).body, /^3000$/m);
    // Both tasks are over: their pins are gone, and the next dataset evicts them.
    const t3 = await c.submit({ entrypoint: '/bin/true', dataset_specs: [spec('c')] });
    assert.equal((await c.waitStatus(t3.id, ['completed', 'failed'])).status, 'completed');
    assert.equal(existsSync(cacheEntry('a')), false, 'released when the resumed task ended');
    assert.equal(existsSync(cacheEntry('b')), false, 'released when the fresh task ended');
    assert.ok(existsSync(cacheEntry('c')));
  } finally {
    killPrintedPid(log);
    await c.close();
  }
});

/**
 * Sidecars across an agent restart, with real processes: a fake `tensorboard` (a node HTTP server
 * that also forks a `sleep` into its process group) is started by one Sidecars set, and a second
 * set (the restarted agent) resumes from the first one's records: it adopts a live sidecar, restarts
 * a dead one on its old port, refuses a taken port with the reason, never trusts a reused pid, and
 * its stop takes the whole process group.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { freeTcpPort } from '../../../agent/daemon/service-port.js';
import { realSleep } from '../../../agent/daemon/service-probe.js';
import { onPath, Sidecars, type SidecarDeps, type SidecarRecord } from '../../../agent/plugins/sidecars.js';
import { isLive, readProcStat } from '../../../agent/runtime/proc-fs.js';
import { systemClock } from '../../../shared/time.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const FAKE = `#!/usr/bin/env node
const http = require('node:http');
const { spawn } = require('node:child_process');
const arg = (n) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : undefined; };
const kid = spawn('sleep', ['300'], { stdio: 'ignore' });
console.log('child=' + kid.pid);
http.createServer((req, res) => res.end('ok')).listen(Number(arg('--port')), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0)); // leaves its child behind: the group kill must take it
`;

let tmp: Awaited<ReturnType<typeof tempDir>>;
let deps: SidecarDeps;
const configs = { tensorboard: { mode: 'sidecar' as const } };
const ctx = () => ({ task_id: 't1', workspace: tmp.path, task_workspace: tmp.path, runtime: 'process' as const });
const started: Sidecars[] = [];

before(async () => {
  tmp = await tempDir('fetchml-sidecar-restart-');
  await writeFile(join(tmp.path, 'tensorboard'), FAKE);
  await chmod(join(tmp.path, 'tensorboard'), 0o755);
  const env = { PATH: `${tmp.path}:${process.env.PATH}` };
  deps = { clock: systemClock, fetch, sleep: realSleep, freePort: () => freeTcpPort('127.0.0.1'), which: (p) => onPath(p, env), env, readyTimeoutMs: 5000, stopGraceMs: 1000 };
});
after(async () => {
  for (const s of started) await s.stop();
  await tmp[Symbol.asyncDispose]();
});

async function startOne(): Promise<{ s: Sidecars; rec: SidecarRecord; child: number }> {
  const s = new Sidecars(deps);
  started.push(s);
  const env = await s.start(configs, ctx(), tmp.path);
  assert.equal(s.statuses.tensorboard!.status, 'healthy', s.statuses.tensorboard!.message);
  const [rec] = s.records();
  assert.ok(rec);
  assert.equal(env.FETCHML_TENSORBOARD_URL, rec.url);
  const child = Number(await waitFor(async () => /child=(\d+)/.exec(await readFile(join(tmp.path, 'sidecar-tensorboard.log'), 'utf8').catch(() => ''))?.[1], { what: 'the fake to fork' }));
  await writeFile(join(tmp.path, 'sidecar-tensorboard.log'), ''); // the next start logs afresh
  return { s, rec, child };
}

/** A second Sidecars set, as a restarted agent builds it. */
async function restarted(saved: unknown, d: Partial<SidecarDeps> = {}): Promise<Sidecars> {
  const s = new Sidecars({ ...deps, ...d });
  started.push(s);
  await (await s.resume(saved, configs, ctx(), tmp.path)).ready;
  return s;
}

test('a sidecar runs detached in its own process group, recorded by pid, start time and port', async () => {
  const { rec, child } = await startOne();
  const st = await readProcStat(rec.pid);
  assert.equal(st?.pgrp, rec.pid, 'the sidecar leads its own group (an agent kill does not take it)');
  assert.equal(st?.starttime, rec.starttime);
  assert.equal((await readProcStat(child))?.pgrp, rec.pid, 'its children are in its group');
  assert.equal(rec.url, `http://127.0.0.1:${rec.port}`);
});

test('a restarted agent adopts a live sidecar: health checks go on, and stop takes the whole group', async () => {
  const { rec, child } = await startOne();
  const s = await restarted(JSON.parse(JSON.stringify([rec])));
  assert.equal(s.statuses.tensorboard!.status, 'healthy');
  assert.deepEqual(s.records(), [rec], 'the same process, not a new one');
  await s.check();
  assert.equal(s.statuses.tensorboard!.status, 'healthy');
  await s.stop();
  assert.equal(s.statuses.tensorboard!.status, 'stopped');
  assert.equal(await isLive(rec.pid), false);
  await waitFor(async () => !(await isLive(child)), { what: 'the sidecar child killed with its group', timeoutMs: 3000 });
});

test('an adopted sidecar that dies later is reported unhealthy by the next check', async () => {
  const { rec } = await startOne();
  const s = await restarted([rec]);
  process.kill(-rec.pid, 'SIGKILL');
  await waitFor(async () => !(await isLive(rec.pid, rec.starttime)), { what: 'the sidecar to die' });
  await s.check();
  assert.equal(s.statuses.tensorboard!.status, 'unhealthy');
  assert.match(s.statuses.tensorboard!.message!, /exited/);
});

test('a sidecar that died while the agent was down is restarted on its old port', async () => {
  const { s: first, rec } = await startOne();
  await first.stop();
  const s = await restarted([rec]);
  assert.equal(s.statuses.tensorboard!.status, 'healthy', s.statuses.tensorboard!.message);
  const [again] = s.records();
  assert.ok(again);
  assert.notEqual(again.pid, rec.pid);
  assert.equal(again.port, rec.port, 'the task was told this port');
  assert.equal(again.url, rec.url);
  assert.equal((await fetch(rec.url)).status, 200);
  await s.stop();
});

test('a dead sidecar whose port is now taken is unhealthy with the reason; nothing is started', async () => {
  const { s: first, rec } = await startOne();
  await first.stop();
  const squatter: Server = createServer();
  await new Promise<void>((r) => squatter.listen(rec.port, '127.0.0.1', r));
  try {
    const s = await restarted([rec]);
    assert.equal(s.statuses.tensorboard!.status, 'unhealthy');
    assert.match(s.statuses.tensorboard!.message!, new RegExp(`port ${rec.port}.*taken`));
    assert.deepEqual(s.records(), []);
  } finally {
    await new Promise((r) => squatter.close(r));
  }
});

test('a reused pid is never adopted or signalled: the start time must match', async () => {
  const other = spawn('sleep', ['30'], { stdio: 'ignore', detached: true });
  try {
    const port = await freeTcpPort('127.0.0.1');
    const liar = { name: 'tensorboard', port, url: `http://127.0.0.1:${port}`, pid: other.pid!, starttime: '1' };
    // The port is taken here too, so the sidecar is not restarted: nothing of ours runs.
    const s = await restarted([liar], { portFree: async () => false });
    assert.equal(s.statuses.tensorboard!.status, 'unhealthy');
    assert.deepEqual(s.records(), []);
    await s.stop();
    assert.equal(await isLive(other.pid!), true, 'the unrelated process was left alone');
  } finally {
    other.kill('SIGKILL');
  }
});

test('garbage records never crash the resume: each plugin is reported, nothing is signalled', async () => {
  for (const saved of [undefined, null, 'x', 42, [null, 'x', { name: 'tensorboard', pid: -1, port: 80, starttime: '1' }, { name: 'nope', pid: 5, port: 5, starttime: '' }, { name: 'tensorboard', pid: 1, port: 1, starttime: '1' }]]) {
    const s = await restarted(saved);
    assert.equal(s.statuses.tensorboard!.status, 'unhealthy', JSON.stringify(saved));
    assert.match(s.statuses.tensorboard!.message!, /not running when the agent restarted/);
    assert.deepEqual(s.records(), []);
  }
  // A tool that is not there any more is said so.
  const s = await restarted([], { which: async () => false });
  assert.match(s.statuses.tensorboard!.message!, /not installed/);
});

test('a tool that cannot be spawned (gone from PATH after the check) is unhealthy, not a crash', async () => {
  const s = new Sidecars({ ...deps, which: async () => true, env: { PATH: join(tmp.path, 'nowhere') } });
  started.push(s);
  const env = await s.start(configs, ctx(), tmp.path);
  assert.deepEqual(env, {});
  assert.equal(s.statuses.tensorboard!.status, 'unhealthy');
  assert.match(s.statuses.tensorboard!.message!, /could not start.*ENOENT/);
  assert.deepEqual(s.records(), []);
});

/**
 * The scheduler's SSE streams through a real HTTP client (undici): the job stream sends the current
 * state first and ends after the final state; Last-Event-ID resumes with what was missed; the status
 * stream carries task events; /ws still carries them too.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import WebSocket from 'ws';
import type { Task } from '../../shared/api-types.js';
import { ADMIN_KEY, startCluster, type Cluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';

interface SseEvent {
  event?: string;
  id?: string;
  data?: string;
}

/** Opens an SSE stream and collects its events as they arrive. */
async function openStream(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers: { 'x-api-key': ADMIN_KEY, accept: 'text/event-stream', ...headers } });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let buf = '';
  let ended = false;
  const done = (async () => {
    for await (const chunk of res.body) {
      buf += chunk.toString();
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: SseEvent = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line);
          const m = /^(event|id|data): ?(.*)$/.exec(line);
          if (m) e[m[1] as keyof SseEvent] = m[2];
        }
        if (e.event) events.push(e);
      }
    }
    ended = true;
  })().catch(() => {
    ended = true;
  });
  return {
    status: res.statusCode,
    type: String(res.headers['content-type']),
    events,
    comments,
    ended: () => ended,
    done,
    tasks: () => events.filter((e) => e.event === 'task').map((e) => ({ id: e.id, task: JSON.parse(e.data!) as Task })),
    close: () => res.body.destroy(),
  };
}

describe('SSE streams (real HTTP client)', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    c.startAgent('s1', { fixture: '1gpu' });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'the worker', timeoutMs: 20_000 });
  });
  after(() => c.close());

  test('job stream: current state first, then changes, ends after the final state; Last-Event-ID resumes', async () => {
    const gate = join(c.dir, 'sse-gate');
    const t = await c.submit({ gpu: 1, entrypoint: `/bin/sh -c 'while [ ! -f ${gate} ]; do sleep 0.05; done; echo done'` });
    const s1 = await openStream(`${c.url}/v1/scheduler/jobs/${t.id}/stream`);
    assert.equal(s1.status, 200);
    assert.match(s1.type, /^text\/event-stream/);
    await waitFor(() => s1.tasks().some((e) => e.task.status === 'running'), { what: 'running over SSE' });
    const first = s1.tasks()[0]!;
    assert.equal(first.task.id, t.id);
    assert.ok(s1.comments.length >= 1, 'the stream opens with a comment');
    for (const e of s1.tasks()) assert.match(e.id ?? '', /^\d+$/);
    const lastSeen = s1.tasks().at(-1)!.id!;
    s1.close();
    // While nobody listens: a priority change (an event of the running task), then it finishes.
    assert.equal((await c.api('PATCH', `/v1/scheduler/jobs/${t.id}/priority`, { priority: 9 })).status, 200);
    writeFileSync(gate, '');
    await c.waitStatus(t.id, ['completed']);
    const s2 = await openStream(`${c.url}/v1/scheduler/jobs/${t.id}/stream`, { 'last-event-id': lastSeen });
    await s2.done;
    const missed = s2.tasks();
    const trace = `${lastSeen} ${JSON.stringify(s1.tasks().map((e) => [e.id, e.task.status]))} ${JSON.stringify(missed.map((e) => [e.id, e.task.status]))}`;
    assert.ok(missed.every((e) => Number(e.id) > Number(lastSeen)), `only what came after Last-Event-ID: ${trace}`);
    assert.equal(missed.at(-1)!.task.status, 'completed');
    // A fresh stream would send only the current (completed) state; the resume replays what came between.
    assert.ok(missed.some((e) => e.task.status === 'running' && e.task.priority === 9), trace);
    assert.ok(!missed.some((e) => e.task.status === 'queued' || e.task.status === 'preparing'), trace);
    // A finished task's stream: its final state, then the end.
    const s3 = await openStream(`${c.url}/v1/scheduler/jobs/${t.id}/stream`);
    await s3.done;
    assert.deepEqual(s3.tasks().map((e) => e.task.status), ['completed']);
  });

  test('status stream: a status summary first, then task events; unknown Last-Event-ID starts fresh', async () => {
    const s = await openStream(`${c.url}/v1/scheduler/status/stream`, { 'last-event-id': '999999999' });
    await waitFor(() => s.events.length >= 1, { what: 'first event' });
    assert.equal(s.events[0]!.event, 'status');
    assert.ok('workers_active' in JSON.parse(s.events[0]!.data!));
    const t = await c.submit({ entrypoint: '/bin/true' });
    await waitFor(() => s.tasks().some((e) => e.task.id === t.id && e.task.status === 'completed'), { what: 'task events on the status stream' });
    await waitFor(() => s.events.filter((e) => e.event === 'status').length >= 2, { what: 'a fresh status after changes' });
    s.close();
  });

  test('users may open only their own job stream, never the status stream; unknown jobs are 404', async () => {
    const user = (await c.api<{ key: string }>('POST', '/v1/keys', { user_id: 'carol', role: 'user' })).body.key;
    const r = await request(`${c.url}/v1/scheduler/status/stream`, { headers: { 'x-api-key': user } });
    assert.equal(r.statusCode, 403);
    await r.body.dump();
    const mine = (await (await fetch(`${c.url}/v1/tasks`, { method: 'POST', headers: { 'x-api-key': user, 'content-type': 'application/json' }, body: JSON.stringify({ job_name: 'carols', entrypoint: '/bin/true' }) })).json()) as Task;
    const own = await openStream(`${c.url}/v1/scheduler/jobs/${mine.id}/stream`, { 'x-api-key': user });
    assert.equal(own.status, 200);
    await own.done;
    assert.equal(own.tasks().at(-1)?.task.status, 'completed');
    const adminTask = await c.submit({ entrypoint: '/bin/true' });
    const theirs = await request(`${c.url}/v1/scheduler/jobs/${adminTask.id}/stream`, { headers: { 'x-api-key': user } });
    assert.equal(theirs.statusCode, 404);
    await theirs.body.dump();
    const n = await request(`${c.url}/v1/scheduler/jobs/nope/stream`, { headers: { 'x-api-key': ADMIN_KEY } });
    assert.equal(n.statusCode, 404);
    await n.body.dump();
  });

  test('/ws still carries task events', async () => {
    const ws = new WebSocket(`${c.url.replace('http', 'ws')}/ws`, { headers: { 'x-api-key': ADMIN_KEY } });
    const seen: string[] = [];
    ws.on('message', (d) => seen.push(d.toString()));
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
    ws.send(JSON.stringify({ type: 'subscribe' }));
    const t = await c.submit({ entrypoint: '/bin/true' });
    await waitFor(() => seen.some((m) => m.includes(t.id) && m.includes('completed')), { what: 'task events over /ws' });
    ws.close();
  });
});

/**
 * Task retention with a real `fetchml control` process: tasks that finished long before
 * FETCHML_TASK_RETENTION_DAYS are archived by the start-up sweep, stay reachable by id (also after
 * a restart and with a damaged archive line), leave the list, and the live store shrinks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import type { Task, TaskList } from '../../shared/api-types.js';
import { openJournalStore } from '../../control/store/journal-store.js';
import type { Mutation } from '../../control/store/types.js';
import { spawnFetchml } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const ADMIN = 'archive-admin-key-0123456789abcdef';
const OLD = 1500;
const LIVE = 7;

async function preload(dataDir: string): Promise<{ oldIds: string[]; liveIds: string[] }> {
  const store = await openJournalStore({ dataDir });
  const longAgo = new Date(Date.now() - 30 * 24 * 3600_000).toISOString();
  const recent = new Date().toISOString();
  const mk = (id: string, status: Task['status'], at: string): Task => ({
    id, job_name: id, status, priority: 5, user_id: 'admin', retry_count: 0, max_retries: 3, node_count: 1, slot_kind: 'batch', epoch: 0,
    created_at: at, queued_at: at, updated_at: at, ...(status === 'queued' ? {} : { started_at: at, ended_at: at }),
    metadata: { payload: 'x'.repeat(200) },
  } as Task);
  const oldIds = Array.from({ length: OLD }, (_, i) => `old-${i}`);
  const liveIds = Array.from({ length: LIVE }, (_, i) => `live-${i}`);
  const tasks = [...oldIds.map((id, i) => mk(id, i % 2 ? 'failed' : 'completed', longAgo)), ...liveIds.map((id, i) => mk(id, i % 2 ? 'queued' : 'completed', i % 2 ? longAgo : recent))];
  for (let i = 0; i < tasks.length; i += 500) {
    await store.commit(tasks.slice(i, i + 500).map((value) => ({ op: 'put', coll: 'tasks', value }) as Mutation));
  }
  await store.close();
  return { oldIds, liveIds };
}

function startControl(dataDir: string) {
  return spawnFetchml(['control', '--port', '0', '--data-dir', dataDir], {
    env: { FETCHML_ADMIN_KEY: ADMIN, FETCHML_TASK_RETENTION_DAYS: '7', FETCHML_LOG_LEVEL: 'info', FETCHML_RATE_LIMIT_RPS: '100000', FETCHML_RATE_LIMIT_BURST: '100000' },
  });
}

async function get(base: string, path: string): Promise<{ status: number; body: unknown }> {
  const r = await request(`${base}${path}`, { headers: { 'x-api-key': ADMIN } });
  const text = await r.body.text();
  return { status: r.statusCode, body: text ? JSON.parse(text) : undefined };
}

test('a real control archives old finished tasks at start-up; they stay reachable by id across a restart', { timeout: 60_000 }, async () => {
  await using dir = await tempDir('fetchml-archive-');
  const { oldIds, liveIds } = await preload(dir.path);

  await using first = startControl(dir.path);
  const base = (await first.waitForOutput(/listening on (http:\/\/\S+)/))[1]!;
  await first.waitForOutput(/archived 1500 finished tasks/);

  const list = (await get(base, '/v1/tasks?limit=1000')).body as TaskList;
  assert.equal(list.total, LIVE, 'only live tasks are listed and counted');
  assert.deepEqual(list.tasks.map((t) => t.id).sort(), [...liveIds].sort());
  const one = await get(base, `/v1/tasks/${oldIds[777]}`);
  assert.equal(one.status, 200);
  assert.equal((one.body as Task).status, 'failed');
  assert.equal((await get(base, '/v1/tasks/old-nonexistent')).status, 404);
  const events = (await get(base, '/v1/audit/events?event_type=tasks_archived')).body as { events: Array<{ metadata: { count: number } }> };
  assert.equal(events.events.reduce((n, e) => n + e.metadata.count, 0), OLD);
  await first.kill('SIGTERM');
  assert.equal((await first.exited).code, 0);

  // A damaged line (say, an operator's editor) must not stop the next start.
  const month = new Date(Date.now() - 30 * 24 * 3600_000).toISOString().slice(0, 7);
  await appendFile(join(dir.path, 'archive', `tasks-${month}.jsonl`), '{"id":"half-writ');

  await using second = startControl(dir.path);
  const base2 = (await second.waitForOutput(/listening on (http:\/\/\S+)/))[1]!;
  await second.waitForOutput(/unterminated last line/);
  assert.match(second.output(), new RegExp(`tasks-${month}\\.jsonl line ${OLD + 1}`));
  for (const id of [oldIds[0]!, oldIds[OLD - 1]!]) {
    const r = await get(base2, `/v1/tasks/${id}`);
    assert.equal(r.status, 200, id);
    assert.equal((r.body as Task).id, id);
  }
  assert.equal(((await get(base2, '/v1/tasks')).body as TaskList).total, LIVE);
  const del = await request(`${base2}/v1/tasks/${oldIds[3]}`, { method: 'DELETE', headers: { 'x-api-key': ADMIN } });
  await del.body.dump();
  assert.equal(del.statusCode, 409);
});

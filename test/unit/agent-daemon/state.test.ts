/** AgentState on real files: records rewritten in place (small) or by rename (large), read back whole. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentState, type TaskRecord } from '../../../agent/daemon/state.js';
import type { TaskAssignment } from '../../../shared/protocol.js';

const assignment = (id: string, extra: Partial<TaskAssignment> = {}): TaskAssignment =>
  ({ task_id: id, epoch: 1, job_name: 'j', user_id: 'u', entrypoint: '/bin/true', slot_kind: 'batch', gpu: 0, env: {}, node_rank: 0, node_count: 1, ...extra }) as TaskAssignment;
const record = (id: string, extra: Partial<TaskRecord> = {}, a: Partial<TaskAssignment> = {}): TaskRecord => ({ assignment: assignment(id, a), state: 'preparing', outbox: [], log_acked: 0, ...extra });

async function withState(fn: (s: AgentState, dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-agent-state-'));
  try {
    await fn(new AgentState(dir), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('agent state', () => {
  test('a record that shrinks is read back exactly (no bytes of the longer one remain)', () =>
    withState(async (s, dir) => {
      const long = record('t1', { error: 'x'.repeat(1500), state: 'running' });
      await s.save(long);
      const short = record('t1', { state: 'completed', exit_code: 0 });
      await s.save(short);
      const [back] = await s.loadAll();
      assert.deepEqual(back, short);
      // Reopened (as after a restart) it is still the short one, and saving again keeps it whole.
      const again = new AgentState(dir);
      assert.deepEqual(await again.loadAll(), [short]);
      await again.save({ ...short, log_acked: 5 });
      assert.deepEqual(await new AgentState(dir).loadAll(), [{ ...short, log_acked: 5 }]);
    }));

  test('records larger than a page are replaced by rename and read back; small ones again in place', () =>
    withState(async (s) => {
      const big = record('t2', { state: 'running' }, { env: { BIG: 'y'.repeat(10_000) } });
      await s.save(big);
      assert.deepEqual(await s.loadAll(), [big]);
      const small = record('t2', { state: 'failed', exit_code: 3 });
      await s.save(small);
      await s.save({ ...small, log_acked: 1 });
      assert.deepEqual(await s.loadAll(), [{ ...small, log_acked: 1 }]);
      const files = await readdir(s.taskDir('t2'));
      assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), []);
    }));

  test('remove deletes the usual layout and anything else in the workspace', () =>
    withState(async (s) => {
      await s.save(record('t3'));
      await s.save(record('t4'));
      const p = s.paths('t4');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(p.workspace, 'deep'), { recursive: true });
      await writeFile(join(p.workspace, 'deep', 'f'), 'data');
      await writeFile(p.log, 'log');
      await s.remove('t3');
      await s.remove('t4');
      assert.deepEqual(await readdir(s.tasksDir), []);
      await assert.rejects(stat(p.dir));
    }));

  test('a save of a new epoch while the old task dir is still being removed survives the removal', () =>
    withState(async (s) => {
      await s.save(record('t7'));
      await writeFile(s.paths('t7').log, 'old log');
      const removal = s.remove('t7'); // not awaited: the agent removes in the background
      const next = record('t7', { state: 'preparing' }, { epoch: 2 });
      await s.save(next);
      await removal;
      assert.deepEqual(await s.loadAll(), [next]);
    }));

  test('a torn or foreign record is skipped, the others load', () =>
    withState(async (s) => {
      const good = record('t5');
      await s.save(good);
      await s.save(record('t6'));
      await writeFile(s.paths('t6').record, '{"assignment":{"task_id":"t6"');
      const bad: string[] = [];
      assert.deepEqual(await s.loadAll((d) => bad.push(d)), [good]);
      assert.deepEqual(bad, ['t6']);
      assert.ok((await readFile(s.paths('t5').record, 'utf8')).startsWith('{'));
    }));
});

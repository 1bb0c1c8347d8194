/**
 * What the agent reports and keeps for short tasks (the dispatch-throughput path): a task that is
 * final at once goes running → final without a separate collecting commit, is still audited as
 * started and completed with its exit code, and leaves no files behind once control confirmed it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEvent } from '../../shared/api-types.js';
import { startCluster, type Cluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';

describe('agent status reports for short tasks', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    c.startAgent('fast', { args: ['--batch-slots', '4'] });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'the agent', timeoutMs: 20_000 });
  });
  after(() => c.close());

  const auditOf = async (id: string) => {
    const r = await c.api<{ events: AuditEvent[] }>('GET', '/v1/audit/events?limit=1000');
    return r.body.events.filter((e) => e.resource === `task:${id}`).map((e) => e.event_type);
  };

  test('exit codes of many short tasks arrive; each is audited queued → started → completed|failed', async () => {
    const tasks = await Promise.all(Array.from({ length: 12 }, (_, i) => c.submit({ entrypoint: i % 3 === 0 ? "/bin/sh -c 'exit 3'" : '/bin/true', max_retries: 0 })));
    for (const [i, t] of tasks.entries()) {
      const done = await c.waitStatus(t.id, ['completed', 'failed']);
      if (i % 3 === 0) {
        assert.equal(done.status, 'failed');
        assert.equal(done.exit_code, 3);
        assert.equal(done.failure_kind, 'entrypoint');
      } else {
        assert.equal(done.status, 'completed');
        assert.equal(done.exit_code, 0);
      }
      assert.ok(done.started_at && done.ended_at && done.started_at <= done.ended_at, `times of ${t.id}`);
      const events = await auditOf(t.id);
      assert.deepEqual(events, ['job_queued', 'job_started', i % 3 === 0 ? 'job_failed' : 'job_completed']);
    }
  });

  test("a confirmed task's directory is removed from the agent's data dir", async () => {
    const t = await c.submit({ entrypoint: "/bin/sh -c 'echo some output'" });
    await c.waitStatus(t.id, ['completed']);
    const tasksDir = join(c.dir, 'agent-fast', 'tasks');
    await waitFor(async () => !(await readdir(tasksDir)).includes(t.id), { what: 'task dir removed', timeoutMs: 10_000 });
    assert.equal(await c.api('GET', `/v1/tasks/${t.id}/logs`).then((r) => r.body), 'some output\n');
  });
});

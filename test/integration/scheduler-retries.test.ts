/**
 * The retry rule on a real agent: the entrypoint's own non-zero exit is retried (with back-off)
 * only when the task set max_retries itself; otherwise it fails at once. Infrastructure failures
 * are covered in agent-workspace.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { AuditEvent } from '../../shared/api-types.js';
import { startCluster, type Cluster } from './agent-cluster.js';
import { waitFor } from '../helpers/wait.js';

// Fails the first time (no marker yet: creates it, exits 3), succeeds the next.
const FLAKY = `/bin/sh -c 'if [ -e "$1" ]; then echo second run; else touch "$1"; echo first run; exit 3; fi' flaky`;

describe('retrying the entrypoint’s own failure', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    c.startAgent('r1', { fixture: '1gpu' });
    await waitFor(async () => (await c.workers()).some((w) => w.status === 'active'), { what: 'a worker', timeoutMs: 20_000 });
  });
  after(() => c.close());

  test('max_retries set: fails once, is requeued (audited job_requeued), then completes with retry_count 1', async () => {
    const marker = join(c.dir, 'marker-asked');
    const t = await c.submit({ entrypoint: FLAKY, args: marker, max_retries: 2 });
    assert.equal(t.retry_on_exit, true);
    assert.equal(t.max_retries, 2);
    const done = await c.waitStatus(t.id, ['completed', 'failed'], 20_000);
    assert.equal(done.status, 'completed', done.error);
    assert.equal(done.retry_count, 1);
    assert.equal(done.exit_code, 0);
    const audit = await c.api<{ events: AuditEvent[] }>('GET', '/v1/audit/events?event_type=job_requeued&limit=100');
    const mine = audit.body.events.filter((e) => e.resource === `task:${t.id}`);
    assert.equal(mine.length, 1);
    assert.match(JSON.stringify(mine[0]!.metadata), /code 3/);
    // Back-off: the retry was not started before queued_at + 2 s.
    const started = Date.parse(done.started_at ?? '');
    const requeuedAt = Date.parse(mine[0]!.timestamp);
    assert.ok(started - requeuedAt >= 1_900, `retry started ${started - requeuedAt} ms after the requeue`);
  });

  test('max_retries omitted: the default retries do not cover the entrypoint, it fails at once', async () => {
    const marker = join(c.dir, 'marker-default');
    const t = await c.submit({ entrypoint: FLAKY, args: marker });
    assert.equal(t.retry_on_exit, false);
    assert.equal(t.max_retries, 3);
    const done = await c.waitStatus(t.id, ['completed', 'failed'], 20_000);
    assert.equal(done.status, 'failed');
    assert.equal(done.failure_kind, 'entrypoint');
    assert.equal(done.exit_code, 3);
    assert.equal(done.retry_count, 0);
  });

  test('retry_on_exit is server-owned: a request carrying it is refused', async () => {
    const r = await c.api('POST', '/v1/tasks', { job_name: 'it', entrypoint: '/bin/true', retry_on_exit: true });
    assert.equal(r.status, 422);
  });
});

/**
 * A real agent process against a stand-in control (a WebSocket server on loopback) that assigns
 * more than the host has: the agent refuses it with a `failed` status marked `refused` (control
 * then requeues without spending a retry: test/integration/agent-gateway.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { fixturesDir } from '../helpers/paths.js';
import { spawnFetchml } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

test('an assignment that does not fit is refused and says so', async () => {
  await using dir = await tempDir('fetchml-refusal-');
  const server = createServer();
  const wss = new WebSocketServer({ server, path: '/v1/agents/connect' });
  const frames: Array<Record<string, unknown>> = [];
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Record<string, unknown>;
      frames.push(m);
      if (m.type === 'hello') {
        ws.send(JSON.stringify({ type: 'welcome', protocol: 1, worker_id: m.worker_id, heartbeat_interval_ms: 1000, draining: false }));
        ws.send(JSON.stringify({ type: 'assign', task: { task_id: 't-big', epoch: 3, job_name: 'big', user_id: 'u', entrypoint: '/bin/true', slot_kind: 'batch', gpu: 4, env: {}, node_rank: 0, node_count: 1 } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const agent = spawnFetchml(['agent', '--control', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, '--token', 't', '--data-dir', join(dir.path, 'agent')], {
    env: { PATH: `${join(fixturesDir, 'bin-nvidia')}:${process.env.PATH}`, FAKE_NVIDIA_SMI_FIXTURE: '1gpu' },
  });
  try {
    const deadline = Date.now() + 20_000;
    let status: Record<string, unknown> | undefined;
    while (!(status = frames.find((f) => f.type === 'task_status' && f.task_id === 't-big' && f.state === 'failed'))) {
      if (Date.now() > deadline) throw new Error(`no refusal; frames: ${JSON.stringify(frames).slice(0, 800)}\n${agent.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(status.refused, true);
    assert.equal(status.epoch, 3);
    assert.equal(status.failure_kind, 'infrastructure');
    assert.match(String(status.error), /agent refused the assignment: .*GPU/i);
    assert.equal(status.started_at, undefined, 'it never ran');
  } finally {
    await agent.kill('SIGKILL');
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
    await new Promise((r) => server.close(r));
  }
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startCluster, type Cluster } from './agent-cluster.js';

let c: Cluster;
before(async () => {
  c = await startCluster();
});
after(() => c.close());

const connect = (token: string) => new WebSocket(`${c.url.replace('http', 'ws')}/v1/agents/connect`, { headers: { authorization: `Bearer ${token}` } });
const hello = (protocol: number) => ({
  type: 'hello',
  protocol,
  worker_id: 'w-test',
  name: 'test',
  address: '127.0.0.1',
  capabilities: { gpus: [], cpu_cores: 2, memory_gb: 4, hostname: 'h', runtime: 'process', probe_status: 'no_gpu' },
  slots: { batch_total: 1, service_total: 0 },
  running: [],
  agent_version: 'x',
});
const frames = (ws: WebSocket) => {
  const got: Array<Record<string, unknown>> = [];
  ws.on('message', (d) => got.push(JSON.parse(d.toString())));
  return got;
};

test('a wrong agent token is refused with 401 and audited', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const ws = connect('wrong');
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => reject(new Error('a wrong token was accepted')));
    ws.on('error', () => undefined);
  });
  assert.equal(status, 401);
  const audit = await c.api<{ events: Array<{ event_type: string; success: boolean }> }>('GET', '/v1/audit/events?event_type=auth_attempt');
  assert.ok(audit.body.events.some((e) => e.event_type === 'auth_attempt' && !e.success), JSON.stringify(audit.body).slice(0, 300));
});

test('an incompatible protocol version gets a clear error frame and the connection closes', async () => {
  const ws = connect(c.token);
  const got = frames(ws);
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify(hello(999)));
  const code = await new Promise<number>((r) => ws.once('close', (code) => r(code)));
  assert.equal(code, 4002);
  assert.equal(got[0]?.type, 'error');
  assert.equal(got[0]?.code, 'PROTOCOL_MISMATCH');
  assert.match(String(got[0]?.message), /protocol 1.*999/);
});

test('garbage frames are answered with BAD_MESSAGE and do not crash control; hello still works after', async () => {
  const ws = connect(c.token);
  const got = frames(ws);
  await new Promise((r) => ws.once('open', r));
  ws.send('not json');
  ws.send(JSON.stringify({ type: 'heartbeat' }));
  ws.send(JSON.stringify([1, 2]));
  ws.send(JSON.stringify(hello(1)));
  ws.send(JSON.stringify({ type: 'task_status', task_id: 'nope', epoch: 'x', state: 'running' }));
  ws.send(JSON.stringify({ type: 'log_chunk', task_id: '../../etc', epoch: 1, offset: -5, data: 'x' }));
  ws.send(JSON.stringify({ type: 'task_status', task_id: 'unknown-task', epoch: 1, state: 'running', at: 'x' }));
  await new Promise<void>((resolve) => {
    const check = () => (got.some((f) => f.type === 'cancel') ? resolve() : setTimeout(check, 20));
    check();
  });
  assert.deepEqual(got.slice(0, 3).map((f) => f.code), ['BAD_MESSAGE', 'BAD_MESSAGE', 'BAD_MESSAGE']);
  assert.equal(got[3]?.type, 'welcome');
  assert.equal(got.find((f) => f.type === 'cancel')?.task_id, 'unknown-task', 'a copy of an unknown task is told to stop');
  ws.close();
  const h = await c.api('GET', '/health');
  assert.equal(h.status, 200);
});

test("a hello's fractional or garbage counts become the Worker schema's whole numbers", async () => {
  const { Ajv } = await import('ajv');
  const { loadSpec } = await import('../../control/http/spec.js');
  const ws = connect(c.token);
  const got = frames(ws);
  await new Promise((r) => ws.once('open', r));
  const odd = hello(1);
  ws.send(JSON.stringify({
    ...odd,
    worker_id: 'w-odd',
    capabilities: { ...odd.capabilities, cpu_cores: 7.9, memory_gb: 23.5 },
    slots: { batch_total: 'two', service_total: -1 },
  }));
  await new Promise<void>((resolve) => {
    const check = () => (got.some((f) => f.type === 'welcome') ? resolve() : setTimeout(check, 20));
    check();
  });
  const r = await c.api<Record<string, unknown>>('GET', '/v1/scheduler/workers/w-odd');
  assert.equal(r.status, 200);
  const w = r.body as { capabilities: { cpu_cores: number; memory_gb: number }; slots: Record<string, number> };
  assert.deepEqual([w.capabilities.cpu_cores, w.capabilities.memory_gb], [7, 23], 'rounded down, never up');
  assert.deepEqual(w.slots, { batch_total: 0, service_total: 0, batch_available: 0, service_available: 0 });
  const op = loadSpec().operations.find((o) => o.operationId === 'getWorker');
  assert.ok(op?.responses['200']);
  const validate = new Ajv({ strict: false }).compile(op.responses['200']);
  assert.ok(validate(r.body), JSON.stringify(validate.errors));
  ws.close();
});

test('an agent that refuses an assignment: requeued without spending a retry, nothing sent there again until its heartbeat', async () => {
  const ws = connect(c.token);
  const got = frames(ws);
  await new Promise((r) => ws.once('open', r));
  const me = { ...hello(1), worker_id: 'w-refuser', name: 'refuser' };
  ws.send(JSON.stringify(me));
  const until = async (what: string, ok: () => boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(got).slice(0, 500)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until('welcome', () => got.some((f) => f.type === 'welcome'));
  const t = (await c.api<{ id: string }>('POST', '/v1/tasks', { job_name: 'refused', entrypoint: '/bin/true', max_retries: 1 })).body;
  const assigns = () => got.filter((f) => f.type === 'assign' && (f.task as { task_id: string }).task_id === t.id) as Array<{ task: { epoch: number } }>;
  await until('the assignment', () => assigns().length === 1);
  const epoch = assigns()[0]!.task.epoch;
  ws.send(JSON.stringify({ type: 'task_status', task_id: t.id, epoch, state: 'failed', at: new Date().toISOString(), failure_kind: 'infrastructure', error: 'agent refused the assignment: no free batch slot', refused: true }));
  await until('the requeue', () => got.some((f) => f.type === 'task_ack' && f.task_id === t.id));
  const requeued = (await c.api<{ status: string; retry_count: number; pending_reason?: string }>('GET', `/v1/tasks/${t.id}`)).body;
  assert.equal(requeued.status, 'queued');
  assert.equal(requeued.retry_count, 0, 'a refusal spends no retry');
  // Held out of planning: no second assignment while the worker has not sent a heartbeat.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(assigns().length, 1);
  ws.send(JSON.stringify({ type: 'heartbeat', seq: 1, slots_used: { batch: 0, service: 0 }, gpus: [], probe_status: 'no_gpu', running: [] }));
  await until('the assignment after the heartbeat', () => assigns().length === 2);
  assert.ok(assigns()[1]!.task.epoch > epoch);
  ws.close();
});

/** /ws over real sockets: auth (header, query, subprotocol), own events only, ping/pong, limits. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { harness, type Harness } from '../unit/http/harness.js';

type Msg = { type: string; task?: { id: string; status: string; user_id: string } };

function connect(url: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}) {
  const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers ?? {} });
  const inbox: Msg[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (d) => {
    inbox.push(JSON.parse(d.toString()) as Msg);
    for (const w of waiters.splice(0)) w();
  });
  const next = (pred: (m: Msg) => boolean) =>
    new Promise<Msg>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching message; got ${JSON.stringify(inbox)}`)), 5000);
      const check = () => {
        const i = inbox.findIndex(pred);
        if (i >= 0) {
          clearTimeout(t);
          resolve(inbox.splice(i, 1)[0]!);
        } else waiters.push(check);
      };
      check();
    });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return { ws, inbox, next, opened, closed };
}

describe('/ws', () => {
  let h: Harness;
  let wsBase: string;
  let alice: string;
  let bob: string;
  before(async () => {
    h = await harness({ wsMessagesPerSecond: 5 });
    wsBase = (await h.control.listen()).replace('http', 'ws');
    alice = await h.userKey('alice');
    bob = await h.userKey('bob');
  });
  after(() => h.close());

  test('refuses a missing or wrong key with HTTP 401', async () => {
    for (const url of [`${wsBase}/ws`, `${wsBase}/ws?api_key=wrong`]) {
      const c = connect(url);
      await assert.rejects(c.opened, (e: { status?: number }) => e.status === 401);
    }
  });

  test('a user gets only their own task events; an admin gets all', async () => {
    const a = connect(`${wsBase}/ws`, { headers: { 'x-api-key': alice } });
    const b = connect(`${wsBase}/ws?api_key=${encodeURIComponent(bob)}`);
    const admin = connect(`${wsBase}/ws`, { protocols: ['fetchml', `fetchml-key.${h.adminKey}`] });
    await Promise.all([a.opened, b.opened, admin.opened]);
    assert.equal(admin.ws.protocol, 'fetchml');
    const actor = { kind: 'key' as const, key_id: 'k', user_id: 'alice', role: 'user' as const };
    const t = await h.control.ctx.tasks.create(actor, { job_name: 'ws-job' });
    const upd = await a.next((m) => m.type === 'task_update');
    assert.equal(upd.task?.id, t.id);
    assert.equal((await admin.next((m) => m.type === 'task_update')).task?.id, t.id);
    await h.control.ctx.tasks.transition(t.id, { status: 'completed', ended_at: new Date().toISOString(), exit_code: 0 });
    const done = await a.next((m) => m.type === 'task_complete');
    assert.equal(done.task?.status, 'completed');
    // bob: ping/pong proves his socket works and that nothing of alice's arrived before the pong.
    b.ws.send(JSON.stringify({ type: 'ping' }));
    await b.next((m) => m.type === 'pong');
    assert.deepEqual(b.inbox, []);
    for (const c of [a, b, admin]) c.ws.close();
  });

  test('junk frames get an error envelope; oversize frames and floods close the socket', async () => {
    const c = connect(`${wsBase}/ws`, { headers: { 'x-api-key': alice } });
    await c.opened;
    c.ws.send('not json');
    assert.equal((await c.next((m) => m.type === 'error')).type, 'error');
    c.ws.send('x'.repeat(10_000));
    assert.equal(await c.closed, 1009);

    const f = connect(`${wsBase}/ws`, { headers: { 'x-api-key': alice } });
    await f.opened;
    for (let i = 0; i < 50; i++) f.ws.send(JSON.stringify({ type: 'ping' }));
    assert.equal(await f.closed, 1008);
  });

  test('unknown upgrade paths answer 404', async () => {
    const c = connect(`${wsBase}/nope`, { headers: { 'x-api-key': alice } });
    await assert.rejects(c.opened, (e: { status?: number }) => e.status === 404);
  });
});

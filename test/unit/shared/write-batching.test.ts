import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { writeBatcher } from '../../../shared/write-batching.js';

function fakeSocket() {
  const calls: string[] = [];
  return { calls, destroyed: false, cork: () => void calls.push('cork'), uncork: () => void calls.push('uncork') };
}

test('the writes of one tick share one cork, released on the next tick', async () => {
  const s = fakeSocket();
  const before = writeBatcher(s);
  before();
  before();
  before();
  assert.deepEqual(s.calls, ['cork']);
  await new Promise((r) => process.nextTick(r));
  assert.deepEqual(s.calls, ['cork', 'uncork']);
  before();
  assert.deepEqual(s.calls, ['cork', 'uncork', 'cork']);
  s.destroyed = true;
  await new Promise((r) => process.nextTick(r));
  assert.deepEqual(s.calls, ['cork', 'uncork', 'cork'], 'a destroyed socket is left alone');
  before();
  assert.equal(s.calls.length, 3);
});

test('on a real socket, frames written in one tick arrive intact and in order', async () => {
  const got: Buffer[] = [];
  let peer: Socket | undefined;
  const server = createServer((c) => {
    peer = c;
    c.on('data', (d) => got.push(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const before = writeBatcher(client);
  const frames = Array.from({ length: 50 }, (_, i) => `frame-${i};`);
  for (const f of frames) {
    before();
    client.write(f);
  }
  assert.equal(client.writableCorked, 1, 'held until the tick ends');
  const want = frames.join('');
  const deadline = Date.now() + 5000;
  while (Buffer.concat(got).toString() !== want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(Buffer.concat(got).toString(), want);
  assert.equal(client.writableCorked, 0);
  client.destroy();
  peer?.destroy();
  await new Promise((r) => server.close(r));
});

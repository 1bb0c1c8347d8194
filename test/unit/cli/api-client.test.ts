import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError, ControlUnreachableError, FetchmlClient, SseParser, type ServerSentEvent } from '../../../shared/api-client.js';
import { loadCliConfig, profilePath, writeProfile } from '../../../shared/cli-config.js';
import { freePort } from '../../helpers/process.js';
import { tempDir } from '../../helpers/tmp.js';

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, [Symbol.asyncDispose]: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('api client', () => {
  test('sends X-API-Key and JSON; 4xx bodies become ApiError with code and trace id', async () => {
    const seen: Array<{ method?: string; url?: string; key?: string; body: string }> = [];
    await using srv = await serve((req, res, body) => {
      seen.push({ method: req.method, url: req.url, key: req.headers['x-api-key'] as string, body: body.toString() });
      if (req.url === '/v1/tasks') {
        res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'gpu must be ≥ 0', code: 'VALIDATION_ERROR', trace_id: 'tr-1' }));
      } else res.writeHead(204).end();
    });
    const client = new FetchmlClient({ url: `${srv.url}/`, apiKey: 'k1' });
    const err = await client.createTask({ job_name: 'x', gpu: -1 }).catch((e: unknown) => e);
    assert.ok(err instanceof ApiError);
    assert.deepEqual([err.status, err.code, err.message, err.traceId], [422, 'VALIDATION_ERROR', 'gpu must be ≥ 0', 'tr-1']);
    await client.drainWorker('w/1', { deadlineSeconds: 1800, reason: 'driver update' });
    assert.equal(seen[0]?.key, 'k1');
    assert.deepEqual(JSON.parse(seen[0]!.body), { job_name: 'x', gpu: -1 });
    assert.equal(seen[1]?.method, 'DELETE');
    assert.equal(seen[1]?.url, '/v1/scheduler/workers/w%2F1?deadline_seconds=1800&reason=driver+update');
    await client.close();
  });

  test('a refused connection is ControlUnreachableError naming the URL', async () => {
    const port = await freePort();
    const client = new FetchmlClient({ url: `http://127.0.0.1:${port}` });
    const err = await client.queue().catch((e: unknown) => e);
    assert.ok(err instanceof ControlUnreachableError);
    assert.equal(err.url, `http://127.0.0.1:${port}`);
    assert.match(err.message, /ECONNREFUSED/);
    await client.close();
  });

  test('snapshot HEAD 404 → false; PUT streams the bytes with progress', async () => {
    let stored: Buffer | undefined;
    await using srv = await serve((req, res, body) => {
      if (req.method === 'HEAD') res.writeHead(stored ? 200 : 404).end();
      else {
        stored = body;
        res.writeHead(201).end();
      }
    });
    const client = new FetchmlClient({ url: srv.url });
    assert.equal(await client.hasSnapshot('a'.repeat(64)), false);
    const bytes = Buffer.alloc(600 * 1024, 7);
    const progress: number[] = [];
    assert.equal(await client.putSnapshot('a'.repeat(64), bytes, (sent) => progress.push(sent)), true);
    assert.deepEqual(stored, bytes);
    assert.equal(progress.at(-1), bytes.length);
    assert.ok(progress.length >= 3);
    assert.equal(await client.hasSnapshot('a'.repeat(64)), true);
    await client.close();
  });

  test('followLogs streams chunks and can skip bytes already shown', async () => {
    await using srv = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('line 1\nli');
      setImmediate(() => res.end('ne 2 é\n'));
    });
    const client = new FetchmlClient({ url: srv.url });
    let text = '';
    const n = await client.followLogs('t1', (t) => (text += t));
    assert.equal(text, 'line 1\nline 2 é\n');
    assert.equal(n, Buffer.byteLength(text));
    let rest = '';
    await client.followLogs('t1', (t) => (rest += t), { skipBytes: 7 });
    assert.equal(rest, 'line 2 é\n');
    await client.close();
  });
});

describe('SSE parser', () => {
  test('events split across chunks, comments, multi-line data, CRLF', () => {
    const got: ServerSentEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    p.push(': ping\n\nevent: worker\ndata: {"a":');
    p.push('1}\n\ndata: one\r\ndata: two\r\n\r\n');
    assert.deepEqual(got, [
      { event: 'worker', data: '{"a":1}' },
      { event: 'message', data: 'one\ntwo' },
    ]);
  });
});

describe('cli config layering', () => {
  test('defaults ← profile ← env ← flags; profile written with mode 0600', async () => {
    await using home = await tempDir();
    const env = { XDG_CONFIG_HOME: join(home.path, 'cfg'), HOME: home.path };
    assert.deepEqual(await loadCliConfig({}, env), { url: 'http://127.0.0.1:9101', apiKey: undefined, urlSource: 'default' });
    await writeProfile(profilePath(env), { url: 'http://p:1', api_key: 'pk' });
    assert.equal((await stat(profilePath(env))).mode & 0o777, 0o600);
    assert.deepEqual(await loadCliConfig({}, env), { url: 'http://p:1', apiKey: 'pk', urlSource: 'profile' });
    const withEnv = { ...env, FETCHML_URL: 'http://e:2/', FETCHML_API_KEY: 'ek' };
    assert.deepEqual(await loadCliConfig({}, withEnv), { url: 'http://e:2', apiKey: 'ek', urlSource: 'env' });
    assert.deepEqual(await loadCliConfig({ url: 'https://f:3', apiKey: 'fk' }, withEnv), { url: 'https://f:3', apiKey: 'fk', urlSource: 'flag' });
    await assert.rejects(loadCliConfig({ url: 'ftp://x' }, env), /http/);
  });
});

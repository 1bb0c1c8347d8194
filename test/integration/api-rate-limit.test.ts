/** Rate limits over a real socket: per key (one key's flood does not touch another) and per address for failed auth. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { TokenBuckets } from '../../control/http/rate-limit.js';
import { harness, type Harness } from '../unit/http/harness.js';

describe('token buckets (pure)', () => {
  test('burst, refill and Retry-After follow the clock', () => {
    let now = 0;
    const b = new TokenBuckets(2, 4, () => now);
    for (let i = 0; i < 4; i++) assert.equal(b.take('k').allowed, true);
    const refused = b.take('k');
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAfter, 1);
    assert.equal(b.take('other').allowed, true, 'buckets are independent');
    now += 500;
    assert.equal(b.take('k').allowed, true, 'one token after 0.5 s at 2/s');
    assert.equal(b.take('k').allowed, false);
  });
});

describe('HTTP rate limits', () => {
  let h: Harness;
  let base: string;
  let flooder: string;
  let calm: string;
  before(async () => {
    h = await harness({ rateLimitRps: 1, rateLimitBurst: 5, authFailRps: 0.5, authFailBurst: 3 });
    base = await h.control.listen();
    flooder = await h.userKey('flooder');
    calm = await h.userKey('calm');
  });
  after(() => h.close());

  const get = (headers: Record<string, string>) => request(`${base}/v1/queue`, { headers });

  test('a key over its burst gets 429 with Retry-After and RateLimit headers; another key is unaffected', async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof get>> | undefined;
    for (let i = 0; i < 12; i++) {
      const r = await get({ 'x-api-key': flooder });
      statuses.push(r.statusCode);
      if (r.statusCode === 429) limited ??= r;
      else await r.body.dump();
    }
    assert.ok(statuses.slice(0, 5).every((s) => s === 200), statuses.join(','));
    assert.ok(statuses.slice(6).every((s) => s === 429), statuses.join(','));
    assert.ok(limited);
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.match(String(limited.headers['ratelimit-policy']), /q=5;w=5/);
    assert.match(String(limited.headers.ratelimit), /r=0;t=\d+/);
    const body = (await limited.body.json()) as { code: string; trace_id: string };
    assert.equal(body.code, 'RATE_LIMITED');
    const other = await get({ 'x-api-key': calm });
    assert.equal(other.statusCode, 200);
    await other.body.dump();
  });

  test('failed authentication is limited per client address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await get({ 'x-api-key': `guess-${i}` });
      statuses.push(r.statusCode);
      await r.body.dump();
    }
    assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
    assert.ok(statuses.slice(3).every((s) => s === 429), statuses.join(','));
    const ok = await get({ 'x-api-key': calm });
    assert.equal(ok.statusCode, 200, 'a valid key is not blocked by the address limit');
    await ok.body.dump();
  });
});

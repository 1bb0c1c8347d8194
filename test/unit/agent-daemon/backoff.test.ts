import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay, BACKOFF_MAX_MS, BACKOFF_MIN_MS } from '../../../agent/daemon/backoff.js';

test('back-off grows exponentially from 1 s and is clamped to 30 s', () => {
  assert.equal(backoffDelay(0, () => 0.999999), BACKOFF_MIN_MS);
  assert.equal(backoffDelay(1, () => 0), BACKOFF_MIN_MS);
  assert.equal(backoffDelay(3, () => 0.999999), 8000);
  assert.equal(backoffDelay(50, () => 0.999999), BACKOFF_MAX_MS);
  assert.equal(backoffDelay(50, () => 0), BACKOFF_MAX_MS / 2);
});

test('property: always within 1–30 s, even for odd inputs', () => {
  fc.assert(
    fc.property(fc.oneof(fc.integer(), fc.double(), fc.constant(NaN), fc.constant(Infinity)), fc.oneof(fc.double(), fc.constant(NaN), fc.constant(5)), (attempt, r) => {
      const d = backoffDelay(attempt, () => r);
      assert.ok(d >= BACKOFF_MIN_MS && d <= BACKOFF_MAX_MS, `${d}`);
    }),
  );
});

test('jitter spreads agents apart', () => {
  const ds = new Set([0, 0.25, 0.5, 0.75].map((r) => backoffDelay(4, () => r)));
  assert.equal(ds.size, 4);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuTypeMatches } from '../../../shared/resources.js';
import { parseDuration, MINUTE } from '../../../shared/time.js';
import { canonicalJson, sha256Hex } from '../../../shared/canonical-json.js';

test('gpu type matches probed names word by word, case-insensitively', () => {
  assert.equal(gpuTypeMatches('H100', 'NVIDIA H100 80GB HBM3'), true);
  assert.equal(gpuTypeMatches('a100 80gb', 'NVIDIA A100-SXM4-80GB'), true);
  assert.equal(gpuTypeMatches('A100', 'NVIDIA H100 80GB HBM3'), false);
  assert.equal(gpuTypeMatches(undefined, 'anything'), true);
  assert.equal(gpuTypeMatches('H100', undefined), false);
});

test('durations parse with units and reject garbage', () => {
  assert.equal(parseDuration('30m'), 30 * MINUTE);
  assert.equal(parseDuration('90'), 90_000);
  assert.equal(parseDuration('1.5h'), 90 * MINUTE);
  assert.equal(parseDuration('soon'), undefined);
  assert.equal(parseDuration('-5s'), undefined);
});

test('canonical JSON sorts keys and hashes stably (RFC 8785)', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'] }), '{"a":[true,null,"x"],"b":1}');
  assert.equal(sha256Hex(canonicalJson({ b: 1, a: 2 })), sha256Hex('{"a":2,"b":1}'));
});

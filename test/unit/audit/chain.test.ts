import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AuditEvent } from '../../../shared/api-types.js';
import { canonicalJson, sha256Hex } from '../../../shared/canonical-json.js';
import { chainAuditEvent, GENESIS_HASH, GENESIS_HEAD, parseAuditLines, verifyChain } from '../../../control/audit/chain.js';

const AT = '2030-01-01T00:00:00.000Z';

function chain(n: number): AuditEvent[] {
  const out: AuditEvent[] = [];
  let head = GENESIS_HEAD;
  for (let i = 0; i < n; i++) {
    const e = chainAuditEvent({ event_type: 'job_queued', success: true, user_id: `u${i}`, metadata: { i } }, head, AT);
    out.push(e);
    head = e;
  }
  return out;
}
const entries = (events: AuditEvent[]) => events.map((e) => ({ event: e }));

test('event_hash is sha256 of the RFC 8785 JSON of the event without event_hash', () => {
  const [e] = chain(1);
  const { event_hash, ...rest } = e!;
  assert.equal(event_hash, sha256Hex(canonicalJson(rest)));
  assert.equal(e!.prev_hash, GENESIS_HASH);
  assert.equal(e!.sequence_num, 1);
});

test('undefined draft fields are dropped so the file hashes the same', () => {
  const e = chainAuditEvent({ event_type: 'auth_attempt', success: false, user_id: undefined }, GENESIS_HEAD, AT);
  assert.equal('user_id' in e, false);
  const [back] = parseAuditLines(JSON.stringify(e) + '\n');
  assert.ok(back && 'event' in back);
  assert.equal(verifyChain([back], undefined, AT).valid, true);
});

test('empty log: valid, genesis root; an empty checkpoint matches it', () => {
  const r = verifyChain([], { root_hash: GENESIS_HASH, total_events: 0 }, AT);
  assert.deepEqual(r, { valid: true, total_events: 0, chain_root_hash: GENESIS_HASH, verified_at: AT, checkpoint_valid: true });
});

test('property: changing any field of event k is reported as k', () => {
  const events = chain(12);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.constantFrom('user_id', 'success', 'timestamp', 'metadata', 'event_type', 'event_hash', 'prev_hash'),
      (k, field) => {
        const copy = events.map((e) => ({ ...e }));
        const target = copy[k - 1] as unknown as Record<string, unknown>;
        target[field] = field === 'success' ? false : field === 'metadata' ? { i: -1 } : `x${String(target[field])}`;
        const r = verifyChain(entries(copy), undefined, AT);
        assert.equal(r.valid, false);
        assert.equal(r.first_tampered, k);
      },
    ),
  );
});

test('checkpoint with a bad count is invalid, not a crash', () => {
  const r = verifyChain(entries(chain(3)), { root_hash: 'abc', total_events: -1 }, AT);
  assert.equal(r.checkpoint_valid, false);
  assert.equal(r.valid, false);
});

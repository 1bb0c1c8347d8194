import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventRing, parseLastEventId } from '../../../control/scheduler/event-ring.js';

describe('EventRing (SSE resume buffer)', () => {
  test('events after an id, oldest first; unknown, future or dropped ids mean start over', () => {
    const r = new EventRing(3);
    assert.deepEqual(r.since(0), []);
    for (const n of [1, 2, 3, 4, 5]) r.push('task', JSON.stringify({ n }), `t${n}`);
    assert.equal(r.lastId, 5);
    assert.deepEqual(r.since(3)?.map((e) => e.id), [4, 5]);
    assert.deepEqual(r.since(2)?.map((e) => [e.id, e.task_id]), [[3, 't3'], [4, 't4'], [5, 't5']]);
    assert.equal(r.since(1), undefined, 'event 2 was dropped');
    assert.equal(r.since(6), undefined, 'an id this ring never issued');
    assert.equal(r.since(-1), undefined);
    assert.equal(r.since(1.5), undefined);
    assert.deepEqual(r.since(5), []);
  });
  test('Last-Event-ID parsing refuses garbage', () => {
    assert.equal(parseLastEventId('42'), 42);
    assert.equal(parseLastEventId([' 7 ']), 7);
    for (const bad of [undefined, '', 'abc', '-1', '1e3', '9'.repeat(30), {}]) assert.equal(parseLastEventId(bad), undefined);
  });
});

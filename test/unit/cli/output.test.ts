import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { colorEnabled, formatTable, humanDuration, humanSize, paint, visibleLength } from '../../../bin/output.js';

describe('table formatting', () => {
  test('columns align on the widest cell, header upper-cased, no trailing spaces', () => {
    const t = formatTable(['id', 'name', 'status'], [['t1', 'short', 'queued'], ['task-22', 'a-much-longer-name', 'running']], { color: false, width: 200 });
    assert.equal(
      t,
      'ID       NAME                STATUS\n' + 't1       short               queued\n' + 'task-22  a-much-longer-name  running\n',
    );
  });
  test('shrinks the widest column to fit the terminal with an ellipsis', () => {
    const long = 'x'.repeat(80);
    const t = formatTable(['id', 'name', 'status'], [['t1', long, 'ok']], { color: false, width: 40 });
    for (const line of t.trimEnd().split('\n')) assert.ok(visibleLength(line) <= 40, `"${line}" fits`);
    assert.match(t, /x…  ok/);
  });
  test('coloured cells are measured without their escape codes', () => {
    const t = formatTable(['a', 'b'], [[paint('red', 'red', true), 'z']], { color: false, width: 100 });
    assert.equal(t.split('\n')[1], '\u001b[31mred\u001b[0m  z');
  });
});

describe('colour', () => {
  test('only on a TTY, never with NO_COLOR or TERM=dumb', () => {
    assert.equal(colorEnabled({ isTTY: true, env: {} }), true);
    assert.equal(colorEnabled({ isTTY: false, env: {} }), false);
    assert.equal(colorEnabled({ isTTY: true, env: { NO_COLOR: '' } }), false);
    assert.equal(colorEnabled({ isTTY: true, env: { NO_COLOR: '1' } }), false);
    assert.equal(colorEnabled({ isTTY: true, env: { TERM: 'dumb' } }), false);
  });
});

describe('units', () => {
  test('durations', () => {
    assert.equal(humanDuration(850), '850ms');
    assert.equal(humanDuration(12_000), '12s');
    assert.equal(humanDuration(185_000), '3m05s');
    assert.equal(humanDuration(3_720_000), '1h02m');
    assert.equal(humanDuration(2 * 86_400_000 + 3 * 3_600_000), '2d03h');
    assert.equal(humanDuration(-1), '-');
  });
  test('sizes', () => {
    assert.equal(humanSize(512), '512 B');
    assert.equal(humanSize(1536), '1.5 KiB');
    assert.equal(humanSize(20 * 2 ** 20), '20 MiB');
    assert.equal(humanSize(Number.NaN), '-');
  });
});

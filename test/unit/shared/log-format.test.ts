import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLogLine, wantPrettyLogs } from '../../../shared/log-format.js';

const at = Date.UTC(2026, 10, 23, 14, 57, 3);

test('a pino line becomes time, level, name, message and its fields', () => {
  const line = JSON.stringify({ level: 30, time: at, pid: 1, hostname: 'h', name: 'control', msg: 'agent connected', worker: 'w-1', running: 0, reason: 'a b' });
  assert.equal(formatLogLine(line), '14:57:03 INFO  control: agent connected  worker=w-1 running=0 reason="a b"\n');
});

test('errors show their message; long values are cut; unknown levels and missing fields do not throw', () => {
  const err = { type: 'Error', message: 'disk full', stack: 'Error: disk full\n    at x (y.js:1:1)' };
  assert.equal(formatLogLine(JSON.stringify({ level: 50, time: at, name: 'fetchml-agent', msg: 'task runner failed', err })), '14:57:03 ERROR fetchml-agent: task runner failed  err="disk full"\n');
  const long = formatLogLine(JSON.stringify({ level: 40, time: at, msg: 'x', blob: 'y'.repeat(500) }));
  assert.ok(long.length < 260 && long.includes('…'), long);
  assert.equal(formatLogLine(JSON.stringify({ level: 35, msg: 'odd' })), '--:--:-- 35    odd\n');
});

test('anything that is not a JSON object passes through unchanged', () => {
  assert.equal(formatLogLine('plain text'), 'plain text\n');
  assert.equal(formatLogLine('[1,2]\n'), '[1,2]\n');
  assert.equal(formatLogLine('null'), 'null\n');
});

test('readable on a terminal, JSON otherwise; FETCHML_LOG_FORMAT decides when set', () => {
  assert.equal(wantPrettyLogs({}, true), true);
  assert.equal(wantPrettyLogs({}, false), false);
  assert.equal(wantPrettyLogs({ FETCHML_LOG_FORMAT: 'json' }, true), false);
  assert.equal(wantPrettyLogs({ FETCHML_LOG_FORMAT: 'pretty' }, false), true);
});

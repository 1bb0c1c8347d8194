import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entrypointArgv, splitWords } from '../../../shared/entrypoint.js';
import { TaskFailure } from '../../../shared/errors.js';

test('python and shell scripts get their interpreter', () => {
  assert.deepEqual(entrypointArgv('train.py', '--epochs 10'), ['python3', 'train.py', '--epochs', '10']);
  assert.deepEqual(entrypointArgv('scripts/run.sh'), ['bash', 'scripts/run.sh']);
  assert.deepEqual(entrypointArgv('train.py --lr 0.1', '--epochs 2'), ['python3', 'train.py', '--lr', '0.1', '--epochs', '2']);
});

test('an explicit shell gets its command string as one argument', () => {
  assert.deepEqual(entrypointArgv('/bin/bash -c "python train.py --epochs 10"'), [
    '/bin/bash',
    '-c',
    'python train.py --epochs 10',
  ]);
});

test('quotes and escapes split like a shell', () => {
  assert.deepEqual(entrypointArgv('echo', `'a b' "c d" e\\ f ""`), ['echo', 'a b', 'c d', 'e f', '']);
  assert.deepEqual(splitWords(`'$HOME' "x" '\`id\`'`), ['$HOME', 'x', '`id`']);
  assert.deepEqual(entrypointArgv('/bin/true', '   '), ['/bin/true']);
});

test('empty entrypoint is refused', () => {
  assert.throws(() => entrypointArgv(''), (e: unknown) => e instanceof TaskFailure && /empty/.test(e.message));
  assert.throws(() => entrypointArgv('   '), TaskFailure);
});

for (const bad of ['echo hi && rm -rf /', 'a | b', 'a > out', 'ls *.py', 'echo $HOME', 'a; b', 'echo `id`', 'x # comment']) {
  test(`shell syntax is refused, not run: ${bad}`, () => {
    assert.throws(
      () => entrypointArgv(bad),
      (e: unknown) => e instanceof TaskFailure && e.kind === 'entrypoint' && /not run by a shell/.test(e.message),
    );
  });
}

test('shell syntax in args is refused too', () => {
  assert.throws(() => entrypointArgv('train.py', '--out $(pwd)'), /args/);
});

test('an unclosed quote is refused instead of silently closed', () => {
  for (const bad of ['python "train.py', "run.sh 'a b", 'x "a\\"']) {
    assert.throws(() => entrypointArgv(bad), (e: unknown) => e instanceof TaskFailure && /unclosed (single|double) quote/.test(e.message), bad);
  }
  assert.deepEqual(entrypointArgv(`echo "it's" 'say "hi"' a\\"b`), ['echo', "it's", 'say "hi"', 'a"b']);
});

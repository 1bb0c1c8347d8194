import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp, isIgnored, parseIgnoreFile } from '../../../shared/ignore-rules.js';

describe('ignore rules', () => {
  test('globs', () => {
    const cases: Array<[string, string, boolean]> = [
      ['*.py', 'a.py', true],
      ['*.py', 'a.pyc', false],
      ['a?c', 'abc', true],
      ['a?c', 'a/c', false],
      ['[ab]x', 'bx', true],
      ['[!ab]x', 'bx', false],
      ['[!ab]x', 'cx', true],
      ['**/foo', 'foo', true],
      ['**/foo', 'x/y/foo', true],
      ['a/**/b', 'a/b', true],
      ['a/**/b', 'a/x/y/b', true],
      ['a/**', 'a/x/y', true],
      ['a.b', 'axb', false],
      ['\\*literal', '*literal', true],
    ];
    for (const [glob, path, expected] of cases) assert.equal(globToRegExp(glob)!.test(path), expected, `${glob} vs ${path}`);
  });

  test('last matching rule wins, negation re-includes', () => {
    const rules = parseIgnoreFile('*.log\n!important.log\n');
    assert.equal(isIgnored(rules, 'x/debug.log', false), true);
    assert.equal(isIgnored(rules, 'x/important.log', false), false);
  });

  test('malformed or odd lines never throw', () => {
    const rules = parseIgnoreFile('[\n!\n/\n\\\n***\n[z-a]\n   \n#c\n');
    assert.doesNotThrow(() => isIgnored(rules, 'anything/at/all', false));
  });

  test('rules of a nested file apply only below their folder', () => {
    const rules = parseIgnoreFile('/build\n', 'pkg');
    assert.equal(isIgnored(rules, 'pkg/build', true), true);
    assert.equal(isIgnored(rules, 'build', true), false);
    assert.equal(isIgnored(rules, 'pkg/sub/build', true), false);
  });
});

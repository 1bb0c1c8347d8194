import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import SwaggerParser from '@apidevtools/swagger-parser';
import { parse } from 'yaml';
import { repoRoot } from '../../helpers/paths.js';

const ours = join(repoRoot, 'control', 'openapi.yaml');
const seed = join(repoRoot, '..', 'shared', 'spec', 'seed-openapi-v2.yaml');

test('our corrected copy of the spec validates as OpenAPI 3.0', async () => {
  await SwaggerParser.validate(ours);
});

test('every path and method of the seed v2 spec is still in our copy', async (t) => {
  let seedText: string;
  try {
    seedText = await readFile(seed, 'utf8');
  } catch {
    t.skip('the seed spec is not beside the repository');
    return;
  }
  const methods = ['get', 'post', 'put', 'patch', 'delete', 'head'];
  const seedDoc = parse(seedText) as { paths: Record<string, Record<string, unknown>> };
  const ourDoc = parse(await readFile(ours, 'utf8')) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  let pairs = 0;
  for (const [path, ops] of Object.entries(seedDoc.paths)) {
    for (const m of methods.filter((k) => k in ops)) {
      pairs++;
      const op = ourDoc.paths[path]?.[m];
      assert.ok(op, `${m.toUpperCase()} ${path} missing from control/openapi.yaml`);
      const seedCodes = Object.keys((ops[m] as { responses: Record<string, unknown> }).responses);
      for (const code of seedCodes) assert.ok(code in op.responses, `${m.toUpperCase()} ${path} lost response ${code}`);
    }
  }
  assert.equal(pairs, 30, 'the seed has 30 path/method pairs');
});

import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** True when running the compiled tests under dist/. */
export const runningFromDist = here.includes(`${'/'}dist${'/'}`);
/** Repository root (the folder with package.json). */
export const repoRoot = runningFromDist ? resolve(here, '../../..') : resolve(here, '../..');
export const fixturesDir = join(repoRoot, 'test', 'fixtures');

/**
 * How to start the `fetchml` executable in a child process: the compiled one when tests run from
 * dist/ (as `npm test` does), otherwise the TypeScript source through tsx.
 */
export function fetchmlCommand(): { command: string; args: string[] } {
  const built = join(repoRoot, 'dist', 'bin', 'fetchml.js');
  if (runningFromDist && existsSync(built)) return { command: process.execPath, args: [built] };
  // Resolve tsx from the repository, not from the child's working folder (often a temp dir).
  const tsx = pathToFileURL(createRequire(join(repoRoot, 'package.json')).resolve('tsx')).href;
  return { command: process.execPath, args: ['--import', tsx, join(repoRoot, 'bin', 'fetchml.ts')] };
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh temp dir that is removed by the returned disposer (use with `await using` or after()).
 * Retries ENOTEMPTY/EBUSY: a process the test killed a moment ago (a task, a fake docker call in
 * flight) may still create a file while the tree is being removed.
 */
export async function tempDir(prefix = 'fetchml-test-'): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }) };
}

/**
 * One process per data dir: two writers appending to one journal would corrupt it. The lock file
 * holds the owner's pid; a lock whose process is gone (a crash, SIGKILL) is taken over. The same
 * pid may reopen (tests reopen in-process; a container restarts as pid 1 again).
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE_NAME = 'store.lock';

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(`data dir ${dir} is in use by another fetchml process (pid ${pid}); stop it first or use another --data-dir`);
    this.name = 'DataDirLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const file = join(dir, LOCK_FILE_NAME);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return async () => {
        await unlink(file).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new DataDirLockedError(dir, pid);
    await unlink(file).catch(() => undefined); // stale (or ours): take it over
  }
  throw new Error(`could not take the lock ${file}`);
}

/**
 * Following a task like `srun`: its log streams to the terminal, state changes go to stderr, and
 * the result is the task's own exit code. Ctrl-C detaches (or cancels with --cancel-on-interrupt).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from '../../shared/api-client-errors.js';
import { isFinalStatus, type Task } from '../../shared/api-types.js';
import { jsonOut } from '../output.js';
import type { ClientSession } from './context.js';

export interface FollowOptions {
  cancelOnInterrupt: boolean;
  logsTo: 'stdout' | 'stderr';
  printFinalJson: boolean;
  pollMs?: number;
  /** Rank of a multi-node task whose log to stream (default 0, the task's own log). */
  node?: number;
}

export const EXIT_INTERRUPTED = 130;

/** The exit code a finished task stands for. */
export function taskExitCode(task: Task): number {
  if (task.status === 'completed') return task.exit_code ?? 0;
  if (task.exit_code !== undefined && task.exit_code !== 0) return task.exit_code;
  return 1;
}

export async function followTask(s: ClientSession, id: string, opts: FollowOptions): Promise<number> {
  const pollMs = opts.pollMs ?? 1000;
  const stop = new AbortController();
  let interrupted: 'detach' | 'cancel' | undefined;
  const onSigint = () => {
    if (interrupted) process.exit(EXIT_INTERRUPTED); // second Ctrl-C: leave at once
    if (opts.cancelOnInterrupt) {
      interrupted = 'cancel';
      s.err(`\ncancelling task ${id}… (Ctrl-C again to stop waiting)\n`);
      s.client.cancelTask(id).catch((err: Error) => s.err(`cancel failed: ${err.message}\n`));
    } else {
      interrupted = 'detach';
      stop.abort();
    }
  };
  process.on('SIGINT', onSigint);
  const write = opts.logsTo === 'stdout' ? s.out : s.err;
  let seen = 0;
  let lastStatus: string | undefined;
  let final: Task | undefined;

  const note = (t: Task) => {
    if (t.status === lastStatus) return;
    lastStatus = t.status;
    const where = t.worker_id ? ` on ${t.worker_id}` : '';
    const why = t.status === 'queued' && t.pending_reason ? ` (${t.pending_reason})` : '';
    const err = t.error && isFinalStatus(t.status) ? `: ${t.error}` : '';
    s.err(`task ${id}: ${t.status}${where}${why}${err}\n`);
  };
  const check = async () => {
    const t = await s.client.getTask(id);
    note(t);
    if (isFinalStatus(t.status)) final = t;
    return t;
  };

  // State watcher: prints transitions while the log streams.
  const watcher = (async () => {
    while (!final && !stop.signal.aborted) {
      await check().catch(() => undefined);
      await sleep(pollMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  })();

  try {
    let followSupported = true;
    while (!final && !stop.signal.aborted) {
      if (followSupported) {
        try {
          seen = await s.client.followLogs(id, write, { signal: stop.signal, skipBytes: seen, node: opts.node });
        } catch (err) {
          if (stop.signal.aborted) break;
          if (!(err instanceof ApiError)) throw err;
          followSupported = false; // an older control: poll and print the log at the end
        }
      }
      if (stop.signal.aborted) break;
      await check();
      if (!final) await sleep(followSupported ? 200 : pollMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    if (interrupted === 'detach' || !final) {
      s.err(`\ndetached from task ${id}; it keeps running. Reattach with: fetchml logs -f ${id}\n`);
      return EXIT_INTERRUPTED;
    }
    // The stream may have ended before the last bytes were sealed: print whatever is left.
    const full = Buffer.from(await s.client.taskLogs(id, { node: opts.node }).catch(() => ''), 'utf8');
    if (full.length > seen) write(full.subarray(seen).toString('utf8'));
    if (opts.printFinalJson) s.out(jsonOut(final));
    if (interrupted === 'cancel' && final.status === 'cancelled') return EXIT_INTERRUPTED;
    return taskExitCode(final);
  } finally {
    stop.abort();
    await watcher;
    process.off('SIGINT', onSigint);
  }
}

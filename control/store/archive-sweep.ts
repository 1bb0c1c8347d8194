/**
 * Task retention: moves finished tasks older than the retention out of the live store into the
 * archive (task-archive.ts), so control's memory and its snapshots stay bounded. One pass works
 * in batches: append + fsync the batch to the archive, then one store commit deletes it and
 * records a `tasks_archived` audit event per archive file. Between batches the pass yields to
 * the event loop. The decision (`tasksToArchive`) is pure; clock and interval are parameters.
 */
import type { AuditEvent, AuditEventDraft, Task } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { Clock } from '../../shared/time.js';
import { archiveFileFor, ARCHIVE_DIR_NAME, type TaskArchive } from './task-archive.js';
import type { Mutation, Store } from './types.js';

export const DAY_MS = 24 * 3600 * 1000;
export const DEFAULT_ARCHIVE_BATCH = 1000;

/** When a finished task ended: ended_at, else updated_at; undefined when neither parses. */
export function endedAtMs(t: Task): number | undefined {
  for (const v of [t.ended_at, t.updated_at]) {
    const ms = typeof v === 'string' ? Date.parse(v) : NaN;
    if (Number.isFinite(ms)) return ms;
  }
  return undefined;
}

/**
 * Ids of tasks in a final state (completed/failed/cancelled) that ended more than `retentionMs`
 * before `nowMs`, in the order given, at most `limit`. A retention of 0 (or less) archives nothing.
 */
export function tasksToArchive(tasks: Iterable<Task>, nowMs: number, retentionMs: number, limit = Infinity): string[] {
  const out: string[] = [];
  if (!(retentionMs > 0) || !(limit > 0)) return out;
  const cutoff = nowMs - retentionMs;
  for (const t of tasks) {
    if (!isFinalStatus(t.status)) continue;
    const ended = endedAtMs(t);
    if (ended === undefined || ended >= cutoff) continue;
    out.push(t.id);
    if (out.length >= limit) break;
  }
  return out;
}

export interface BatchReport {
  archived: number;
  /** Wall time of the batch (archive write + fsync + store commit). */
  ms: number;
}

export interface ArchiveSweeperOptions {
  store: Store;
  archive: TaskArchive;
  retentionDays: number;
  clock: Clock;
  /** Pause between passes after the first; the first runs at start. */
  intervalMs: number;
  batchSize?: number;
  logger?: Logger;
  /** The audit events each batch's commit chained (control emits them on its event bus). */
  onAudit?: (events: AuditEvent[]) => void;
  onBatch?: (r: BatchReport) => void;
  /** Run a pass at once and then every intervalMs (default true); false: only runOnce. */
  schedule?: boolean;
}

export interface ArchiveSweeper {
  /** One pass now (or the one already running); resolves with how many tasks it archived. */
  runOnce(): Promise<number>;
  /** Stops the schedule and waits for a running pass (which stops after its current batch). */
  stop(): Promise<void>;
}

export function startArchiveSweeper(opts: ArchiveSweeperOptions): ArchiveSweeper {
  const { store, archive, clock } = opts;
  const logger = opts.logger ?? silentLogger;
  const retentionMs = opts.retentionDays * DAY_MS;
  const batchSize = Math.max(1, opts.batchSize ?? DEFAULT_ARCHIVE_BATCH);
  let running: Promise<number> | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const batch = async (): Promise<number> => {
    const now = clock.now();
    const picked: Task[] = [];
    for (const id of tasksToArchive(store.values('tasks'), now, retentionMs, batchSize)) {
      const t = store.get('tasks', id);
      if (t) picked.push(t);
    }
    if (picked.length === 0) return 0;
    const t0 = performance.now();
    await archive.append(picked, now);
    // Stored values are replaced, never edited: a task whose object changed while the archive was
    // written (a late report) stays live; its archived line is a stale duplicate that a live task
    // shadows and a later archiving supersedes.
    const gone = picked.filter((t) => store.get('tasks', t.id) === t);
    if (gone.length === 0) return 0;
    const perFile = new Map<string, number>();
    for (const t of gone) {
      const file = `${ARCHIVE_DIR_NAME}/${archiveFileFor(t, now)}`;
      perFile.set(file, (perFile.get(file) ?? 0) + 1);
    }
    const drafts: AuditEventDraft[] = [...perFile].map(([file, count]) => ({
      event_type: 'tasks_archived',
      user_id: 'system',
      resource: file,
      action: 'archive',
      success: true,
      metadata: { count, file, retention_days: opts.retentionDays },
    }));
    // Checked and committed in one tick: commit applies its deletes before it first awaits.
    const mutations: Mutation[] = gone.map((t) => ({ op: 'delete', coll: 'tasks', id: t.id }));
    const events = await store.commit(mutations, drafts);
    opts.onAudit?.(events);
    opts.onBatch?.({ archived: gone.length, ms: performance.now() - t0 });
    return gone.length;
  };

  const pass = async (): Promise<number> => {
    let total = 0;
    try {
      while (!stopped) {
        const n = await batch();
        if (n === 0) break;
        total += n;
        await new Promise<void>((r) => setImmediate(r)); // let requests in between batches
      }
    } catch (err) {
      // Nothing is lost: the store keeps every task the failed batch did not delete.
      logger.error({ err }, 'task archive sweep failed; the tasks stay live and the next pass retries');
    }
    if (total > 0) logger.info({ archived: total, live: store.count('tasks'), archive_dir: archive.dir }, `archived ${total} finished tasks`);
    return total;
  };

  const runOnce = (): Promise<number> => {
    if (running) return running;
    if (stopped || !(retentionMs > 0)) return Promise.resolve(0);
    running = pass().finally(() => {
      running = undefined;
    });
    return running;
  };

  const tick = () => {
    timer = undefined;
    void runOnce().finally(() => {
      if (!stopped) {
        timer = setTimeout(tick, opts.intervalMs);
        timer.unref();
      }
    });
  };
  if (opts.schedule !== false && retentionMs > 0) tick();

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}

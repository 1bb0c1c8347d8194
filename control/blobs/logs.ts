/**
 * Task logs: one file per task under <data-dir>/logs/<taskId>.log (gang ranks > 0: see nodeLogId). Agents ship chunks with their
 * byte offset; bytes already stored are dropped, so a resend after a reconnect is harmless.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, statSync } from 'node:fs';
import { appendFile, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The log id of one node of a task: rank 0 is the task's own log (<task>.log), rank r > 0 of a
 * gang is <task>_node<r>.log. The agent gateway writes under these names and the API reads them.
 */
export const nodeLogId = (taskId: string, rank: number): string => (rank === 0 ? taskId : `${taskId}_node${rank}`);

export interface LogStore {
  append(taskId: string, offset: number, data: string | Uint8Array): Promise<void>;
  read(taskId: string): Promise<string>;
  /** The last `bytes` bytes (cut at a UTF-8 boundary). */
  tail(taskId: string, bytes: number): Promise<string>;
  size(taskId: string): Promise<number>;
  /** Calls `onData` with everything from `from` on, now and as it arrives; returns the unsubscribe. */
  follow(taskId: string, from: number, onData: (chunk: Buffer) => void): Promise<() => void>;
}

export function createLogStore(dataDir: string): LogStore {
  const dir = join(dataDir, 'logs');
  mkdirSync(dir, { recursive: true });
  const sizes = new Map<string, number>();
  const chains = new Map<string, Promise<unknown>>();
  const appended = new EventEmitter<Record<string, [Buffer]>>();
  appended.setMaxListeners(0);

  const file = (id: string) => {
    if (!SAFE_ID.test(id)) throw new Error(`bad task id for a log: ${id}`);
    return join(dir, `${id}.log`);
  };
  const sizeOf = async (id: string): Promise<number> => {
    const known = sizes.get(id);
    if (known !== undefined) return known;
    // In-thread: a stat is microseconds of page-cache work, and a missing log (most short tasks)
    // throws no error here; through the pool each final status paid a hand-off and an ENOENT.
    const s = statSync(file(id), { throwIfNoEntry: false })?.size ?? 0;
    sizes.set(id, s);
    return s;
  };
  /** Appends to one task's log run one after another (the offset check depends on the size). */
  const serial = <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const run = (chains.get(id) ?? Promise.resolve()).then(fn, fn);
    chains.set(id, run.catch(() => undefined));
    return run;
  };
  const readFrom = async (id: string, from: number): Promise<Buffer> => {
    const fh = await open(file(id), 'r').catch(() => undefined);
    if (!fh) return Buffer.alloc(0);
    try {
      const { size } = await fh.stat();
      const len = Math.max(0, size - from);
      const buf = Buffer.alloc(len);
      if (len > 0) await fh.read(buf, 0, len, from);
      return buf;
    } finally {
      await fh.close();
    }
  };

  return {
    append(taskId, offset, data) {
      return serial(taskId, async () => {
        const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
        const size = await sizeOf(taskId);
        const skip = Math.max(0, size - Math.max(0, offset));
        if (skip >= bytes.length) return;
        const fresh = bytes.subarray(skip);
        await appendFile(file(taskId), fresh);
        sizes.set(taskId, size + fresh.length);
        appended.emit(taskId, fresh);
      });
    },
    read: async (taskId) => (await readFile(file(taskId)).catch(() => Buffer.alloc(0))).toString('utf8'),
    async tail(taskId, bytes) {
      const size = await sizeOf(taskId);
      if (size === 0) return '';
      let buf = await readFrom(taskId, Math.max(0, size - bytes));
      // Skip UTF-8 continuation bytes so the tail starts on a character.
      let i = 0;
      while (i < buf.length && i < 4 && (buf[i]! & 0xc0) === 0x80) i++;
      if (i) buf = buf.subarray(i);
      return buf.toString('utf8');
    },
    size: sizeOf,
    async follow(taskId, from, onData) {
      file(taskId);
      // Subscribe first, then read what is there, so nothing appended in between is lost.
      let backlogDone = false;
      const queued: Buffer[] = [];
      const listener = (chunk: Buffer) => (backlogDone ? push(chunk) : queued.push(chunk));
      const push = (chunk: Buffer) => onData(chunk);
      appended.on(taskId, listener);
      await serial(taskId, async () => {
        const backlog = await readFrom(taskId, from);
        if (backlog.length) push(backlog);
        // Chunks queued meanwhile are already in the backlog (appends are serialised with this read).
        queued.length = 0;
        backlogDone = true;
      });
      return () => appended.off(taskId, listener);
    },
  };
}

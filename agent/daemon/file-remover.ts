/**
 * Removes finished tasks' files on a worker thread. unlink and rmdir are cheap in CPU (~0.1 ms a
 * task) but each waits for ext4's journal: measured 0.4–0.8 ms of wall time a task on an idle
 * host and ~2 ms under load, all of it the agent's event loop standing still (status frames,
 * spawns and acks of other tasks queued behind it). On a thread of its own that wait costs nothing.
 */
import { rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

// Plain CommonJS so it runs the same from TypeScript sources (tsx) and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { unlinkSync, rmdirSync, rmSync } = require('node:fs');
const gone = (fn, p) => { try { fn(p); } catch (e) { if (!e || e.code !== 'ENOENT') throw e; } };
parentPort.on('message', (m) => {
  let error;
  try {
    for (const f of m.files) gone(unlinkSync, f);
    for (const d of m.dirs) gone(rmdirSync, d);
  } catch {
    // Anything but the usual layout (a snapshot in the workspace): remove the whole tree.
    try { rmSync(m.root, { recursive: true, force: true }); } catch (e) { error = String(e && e.message || e); }
  }
  parentPort.postMessage({ id: m.id, error });
});
`;

/** Removes `files`, then the (then empty) `dirs` in order; anything else under `root` goes with a recursive rm. */
export function removeTreeSync(root: string, files: readonly string[], dirs: readonly string[]): void {
  const gone = (fn: (p: string) => void, p: string) => {
    try {
      fn(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  };
  try {
    for (const f of files) gone(unlinkSync, f);
    for (const d of dirs) gone(rmdirSync, d);
  } catch {
    rmSync(root, { recursive: true, force: true });
  }
}

export class FileRemover {
  private worker: Worker | undefined;
  private failed = false;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  /** Resolves once `root` is gone (or only what could not be removed is left: rejects then). */
  remove(root: string, files: readonly string[], dirs: readonly string[]): Promise<void> {
    const w = this.thread();
    if (!w) {
      removeTreeSync(root, files, dirs);
      return Promise.resolve();
    }
    const id = ++this.seq;
    if (this.pending.size === 0) w.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, root, files, dirs });
    });
  }

  private thread(): Worker | undefined {
    if (this.worker || this.failed) return this.worker;
    try {
      const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], stdout: false, stderr: false });
      w.unref();
      w.on('message', (m: { id: number; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (this.pending.size === 0) w.unref();
        if (m.error) p.reject(new Error(m.error));
        else p.resolve();
      });
      // A thread that died (out of memory): what it had is finished here, later removals in-thread.
      const lost = (err: unknown) => {
        this.worker = undefined;
        this.failed = true;
        const e = err instanceof Error ? err : new Error('file remover thread stopped');
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      };
      w.on('error', lost);
      w.on('exit', () => lost(undefined));
      this.worker = w;
    } catch {
      this.failed = true;
    }
    return this.worker;
  }
}

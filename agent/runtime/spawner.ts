/**
 * Starts task processes from worker threads instead of the agent's event loop. Node's spawn is
 * synchronous: libuv forks, then blocks until the child has exec'd, which on a loaded host costs
 * milliseconds per task (measured: 4.5 ms of a 10 ms per-task budget at 1,000 tasks). On worker
 * threads that wait no longer holds up the WebSocket, status frames and file work of other tasks.
 * The children still belong to the agent process (threads share it), so nothing else changes:
 * detached, own process group, survive an agent kill -9.
 */
import { Worker } from 'node:worker_threads';

export interface SpawnRequest {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** stdout and stderr are appended here. */
  log: string;
}

export interface Spawned {
  pid: number;
  /** /proc/<pid>/stat start time, read right after the spawn (absent if the process was already gone). */
  proc_start?: string;
  /** Resolves with the terminating signal (or null) once the process has exited and been reaped; rejects if that can no longer be observed here. */
  exited: Promise<NodeJS.Signals | null>;
}

// Plain CommonJS so it runs the same from TypeScript sources (tsx) and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const { openSync, closeSync, readFileSync } = require('node:fs');
const startTime = (pid) => {
  try {
    const raw = readFileSync('/proc/' + pid + '/stat', 'utf8');
    return raw.slice(raw.lastIndexOf(')') + 2).split(' ')[19];
  } catch { return undefined; }
};
parentPort.on('message', (m) => {
  let fd;
  try {
    fd = openSync(m.log, 'a');
    const c = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, detached: true, stdio: ['ignore', fd, fd] });
    let started = false;
    c.once('error', (err) => { if (!started) parentPort.postMessage({ id: m.id, error: err.message }); });
    c.once('exit', (code, signal) => parentPort.postMessage({ id: m.id, exit: true, signal }));
    if (c.pid !== undefined) {
      started = true;
      parentPort.postMessage({ id: m.id, pid: c.pid, proc_start: startTime(c.pid) });
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: err && err.message ? err.message : String(err) });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
});
`;

interface Reply {
  id: number;
  pid?: number;
  proc_start?: string;
  error?: string;
  exit?: boolean;
  signal?: NodeJS.Signals | null;
}

interface Pending {
  started?: (s: Spawned) => void;
  failed?: (e: Error) => void;
  exit: (signal: NodeJS.Signals | null) => void;
  /** The thread died: the process may still run; the caller finds its end through /proc. */
  lost: (e: Error) => void;
  exited: Promise<NodeJS.Signals | null>;
}

class SpawnThread {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  /** Processes of this thread someone waits for: the thread keeps the agent alive only then. */
  private waiting = 0;
  broken: Error | undefined;

  constructor() {
    // No inherited execArgv: neither tsx nor --input-type=module belongs in this plain script.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], stdout: false, stderr: false });
    this.worker.unref();
    this.worker.on('message', (r: Reply) => this.onReply(r));
    const fail = (err: Error) => {
      this.broken = err;
      for (const p of this.pending.values()) {
        if (p.failed) p.failed(err);
        else p.lost(err); // started processes run on; the caller finds their end through /proc
      }
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`spawn thread exited (${code})`)));
  }

  ref(): () => void {
    if (this.waiting++ === 0) this.worker.ref();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.waiting === 0) this.worker.unref();
    };
  }

  private onReply(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    if (r.error !== undefined) {
      this.pending.delete(r.id);
      p.failed?.(new Error(r.error));
    } else if (r.exit) {
      this.pending.delete(r.id);
      p.exit(r.signal ?? null);
    } else if (r.pid !== undefined) {
      const s: Spawned = { pid: r.pid, exited: p.exited };
      if (r.proc_start) s.proc_start = r.proc_start;
      p.started?.(s);
    }
    if (r.exit || r.pid !== undefined || r.error !== undefined) {
      p.started = undefined;
      p.failed = undefined;
    }
  }
}

export class Spawner {
  private readonly threads: SpawnThread[] = [];
  private next = 0;
  private seq = 0;

  constructor(private readonly size = 2) {}

  /** Resolves once the process exists (pid known); rejects when it could not be started. */
  spawn(req: SpawnRequest): Promise<Spawned & { hold: () => () => void }> {
    const t = this.thread();
    const id = ++this.seq;
    let exit!: (s: NodeJS.Signals | null) => void;
    let lost!: (e: Error) => void;
    const exited = new Promise<NodeJS.Signals | null>((res, rej) => ((exit = res), (lost = rej)));
    exited.catch(() => undefined); // observed by wait(), if anyone waits
    // Until the start is answered the thread keeps the agent alive; afterwards only wait() does.
    const release = t.ref();
    return new Promise((resolve, reject) => {
      t.pending.set(id, {
        exit,
        lost,
        exited,
        started: (s) => {
          release();
          resolve({ ...s, hold: () => t.ref() });
        },
        failed: (e) => {
          release();
          reject(e);
        },
      });
      t.worker.postMessage({ id, ...req });
    });
  }

  private thread(): SpawnThread {
    for (let i = 0; i < this.threads.length; i++) {
      if (this.threads[i]!.broken) this.threads.splice(i--, 1);
    }
    if (this.threads.length < this.size) {
      const t = new SpawnThread();
      this.threads.push(t);
      return t;
    }
    return this.threads[this.next++ % this.threads.length]!;
  }
}

/**
 * The agent's side of the resident launcher (launcher-source.ts): started detached on first use,
 * found again after an agent restart through its unix socket in the data dir. Starting tasks from a
 * small separate process costs less than forking the agent (and its spawn threads) and no `/bin/sh`
 * runs per task (docs/agent.md: agent + task CPU 6.9–7.7 → 4.1–5.0 ms a task, 1,000 × /bin/true).
 * The python3 flavour (launcher.py) spawns through posix_spawn, cheaper again than Node's fork.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAUNCHER_SOURCE } from './launcher-source.js';
import type { SpawnRequest, Spawned } from './spawner.js';

/** launcher.py, next to this module both in the sources and in dist/ (scripts/copy-assets.mjs). */
const PYTHON_LAUNCHER = fileURLToPath(new URL('./launcher.py', import.meta.url));
const START_TIMEOUT_MS = 10_000;

/** Which launcher to start when none runs: python3 first (auto), or one of them only. */
export type LauncherFlavour = 'auto' | 'python' | 'node';

/** sun_path holds 108 bytes; a longer socket path means: no launcher, the wrapper is used. */
const MAX_SOCKET_PATH = 100;

export class LaunchError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

interface Reply {
  id?: number;
  pid?: number;
  proc_start?: string;
  error?: string;
  code?: string;
  exit?: boolean;
  signal?: NodeJS.Signals | null;
}

export class LauncherClient {
  private conn: Socket | undefined;
  private opening: Promise<Socket> | undefined;
  private seq = 0;
  private buf = '';
  private holds = 0;
  private readonly pending = new Map<number, { ok: (r: Reply) => void; fail: (e: Error) => void; exit: (s: NodeJS.Signals | null) => void; lost: (e: Error) => void }>();
  /** Exit callbacks by pid, for tasks started over the current connection. */
  private readonly exits = new Map<number, { exit: (s: NodeJS.Signals | null) => void; lost: (e: Error) => void }>();

  constructor(
    private readonly dir: string,
    private readonly flavour: LauncherFlavour = 'auto',
    /** The interpreter for launcher.py (FETCHML_LAUNCHER_PYTHON; default python3 on PATH). */
    private readonly python = 'python3',
  ) {}

  get usable(): boolean {
    return join(this.dir, 'launcher.sock').length <= MAX_SOCKET_PATH;
  }

  /** Resolves once the process exists; rejects with LaunchError when it could not be started, with Error when the launcher is unreachable. */
  async spawn(req: SpawnRequest & { exit_file: string }): Promise<Spawned & { hold: () => () => void }> {
    const c = await this.connection();
    const id = ++this.seq;
    let exit!: (s: NodeJS.Signals | null) => void;
    let lost!: (e: Error) => void;
    const exited = new Promise<NodeJS.Signals | null>((res, rej) => ((exit = res), (lost = rej)));
    exited.catch(() => undefined);
    // Until the start is answered the connection keeps the agent alive; afterwards only wait() does.
    const release = this.hold();
    const r = await new Promise<Reply>((ok, fail) => {
      this.pending.set(id, { ok, fail, exit, lost });
      c.write(`${JSON.stringify({ id, file: req.file, args: req.args, cwd: req.cwd, env: req.env, log: req.log, exit: req.exit_file })}\n`);
    }).finally(release);
    const s: Spawned & { hold: () => () => void } = { pid: r.pid!, exited, hold: () => this.hold() };
    if (r.proc_start) s.proc_start = r.proc_start;
    return s;
  }

  private hold(): () => void {
    if (this.holds++ === 0) this.conn?.ref();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.holds === 0) this.conn?.unref();
    };
  }

  private connection(): Promise<Socket> {
    if (this.conn && !this.conn.destroyed) return Promise.resolve(this.conn);
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<Socket> {
    const sock = join(this.dir, 'launcher.sock');
    let c: Socket;
    try {
      c = await tryConnect(sock);
    } catch {
      mkdirSync(this.dir, { recursive: true });
      await this.startLauncher(sock);
      c = await tryConnect(sock);
    }
    c.setEncoding('utf8');
    if (this.holds === 0) c.unref();
    c.on('data', (d: string) => this.onData(d));
    c.on('error', () => undefined);
    c.on('close', () => {
      const err = new Error('launcher connection closed');
      for (const p of this.pending.values()) p.fail(err);
      for (const e of this.exits.values()) e.lost(err); // wait() falls back to /proc and the exit file
      this.pending.clear();
      this.exits.clear();
      if (this.conn === c) this.conn = undefined;
    });
    this.conn = c;
    this.buf = '';
    return c;
  }

  /** Starts python3 launcher.py (cheaper per task) or, where that cannot run, the Node flavour. */
  private async startLauncher(sock: string): Promise<void> {
    const pidFile = join(this.dir, 'launcher.pid');
    const flavours = this.flavour === 'auto' ? (['python', 'node'] as const) : [this.flavour];
    let last: unknown;
    for (const f of flavours) {
      const script = join(this.dir, f === 'python' ? 'launcher.py' : 'launcher.cjs');
      writeFileSync(script, f === 'python' ? readFileSync(PYTHON_LAUNCHER) : LAUNCHER_SOURCE);
      try {
        // -I: isolated from the agent's PYTHON* variables and user site-packages.
        return await startDetached(f === 'python' ? this.python : process.execPath, f === 'python' ? ['-I', script, sock, pidFile] : [script, sock, pidFile]);
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new Error('no launcher could be started');
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const text = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      let m: Reply;
      try {
        m = JSON.parse(text) as Reply;
      } catch {
        continue;
      }
      if (m.exit && m.pid !== undefined) {
        const e = this.exits.get(m.pid);
        this.exits.delete(m.pid);
        e?.exit(m.signal ?? null);
        continue;
      }
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (!p) continue;
      this.pending.delete(m.id!);
      if (m.pid !== undefined) {
        // Registered here, not after the caller's await: the exit may come in the same chunk.
        this.exits.set(m.pid, { exit: p.exit, lost: p.lost });
        p.ok(m);
      } else p.fail(new LaunchError(m.error ?? 'launch failed', m.code));
    }
  }
}

/** Resolves once the launcher printed "ready"; rejects when it exits first, cannot start, or stays silent. */
function startDetached(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.removeAllListeners();
      child.stdout?.removeAllListeners().destroy();
      if (err) {
        child.kill('SIGKILL');
        return reject(err);
      }
      child.unref();
      resolve();
    };
    const timer = setTimeout(() => done(new Error(`${command} launcher did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.once('error', (e) => done(e));
    child.once('exit', (code) => done(new Error(`${command} launcher exited (${code})`)));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('ready\n')) done();
    });
  });
}

function tryConnect(path: string): Promise<Socket> {
  return new Promise((res, rej) => {
    const c = connect(path);
    c.once('connect', () => {
      c.removeListener('error', rej);
      res(c);
    });
    c.once('error', rej);
  });
}

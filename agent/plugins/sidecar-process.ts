/**
 * A sidecar as an operating-system process: started detached in its own session and process group
 * (an agent kill -9 does not take it, a stop takes all its children), named by pid + start time
 * (/proc/<pid>/stat field 22) so a restarted agent can find it again without mistaking a reused pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Clock } from '../../shared/time.js';
import { groupExists, isLive, readProcStat, signalGroup } from '../runtime/proc-fs.js';

export interface SidecarProcess {
  pid: number;
  /** /proc/<pid>/stat field 22: with the pid, names this process for its whole life. */
  starttime: string;
  /** Set when this agent started it (exit events); absent for one adopted after a restart. */
  child?: ChildProcess;
}

export interface StopDeps {
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  stopGraceMs: number;
  /** Live (not a zombie) and the same process as recorded. */
  isLive?: (pid: number, starttime: string) => Promise<boolean>;
}

/** Starts argv detached with stdout and stderr appended to `logFile`. Throws when it cannot. */
export async function spawnSidecar(argv: string[], o: { cwd: string; env: NodeJS.ProcessEnv; logFile: string }): Promise<SidecarProcess> {
  const out = await open(o.logFile, 'a');
  let child: ChildProcess;
  let failed: Promise<Error>;
  try {
    // detached: setsid(), so the sidecar leads its own group and has no controlling terminal.
    child = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env, stdio: ['ignore', out.fd, out.fd], detached: true });
    // Listened to at once: a spawn error is emitted on a later tick, maybe during the close below.
    failed = new Promise<Error>((res) => child.once('error', res));
  } finally {
    await out.close(); // the child has its own copy of the descriptor
  }
  const pid = child.pid;
  if (pid === undefined) throw await failed;
  // The start time is fixed at fork, so reading it now is reading the sidecar's own.
  const st = await readProcStat(pid);
  return { pid, starttime: st?.starttime ?? '', child };
}

/** The recorded process is still the one running (pid not reused, not a zombie). */
export function sidecarLive(p: { pid: number; starttime: string }, d: Pick<StopDeps, 'isLive'> = {}): Promise<boolean> {
  if (!Number.isInteger(p.pid) || p.pid <= 1) return Promise.resolve(false);
  return d.isLive ? d.isLive(p.pid, p.starttime) : isLive(p.pid, p.starttime || undefined);
}

/**
 * SIGTERM to the sidecar's process group, then SIGKILL to what is left of the group once the
 * leader has gone or the grace period has passed. Works the same for a child and an adopted orphan
 * (which this agent cannot wait() for: its liveness is read from /proc).
 */
export async function stopSidecar(p: SidecarProcess, d: StopDeps): Promise<void> {
  if (!(await sidecarLive(p, d))) return;
  send(p.pid, 'SIGTERM');
  const deadline = d.clock.now() + d.stopGraceMs;
  // Bounded by count too, so a clock that does not move (tests) cannot spin forever.
  for (let i = 0; i <= d.stopGraceMs / 50 && d.clock.now() < deadline && (await sidecarLive(p, d)); i++) await d.sleep(50);
  // The group id stays taken while any member lives, so this reaches only the sidecar's own.
  if (groupExists(p.pid)) send(p.pid, 'SIGKILL');
}

function send(pgid: number, sig: NodeJS.Signals): void {
  try {
    signalGroup(pgid, sig);
  } catch {
    /* EPERM: not ours any more */
  }
}

/**
 * Whether something may listen on 127.0.0.1:port (a restarted sidecar must keep its port). Asked
 * a few times: a sidecar that just died can still hold its socket for a moment (its main thread
 * shows as gone in /proc while the other threads of the process still close its files).
 */
export async function loopbackPortFree(port: number, tries = 5, pauseMs = 50): Promise<boolean> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return false;
  for (let i = 0; i < tries; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, pauseMs));
    if (await bindsOnce(port)) return true;
  }
  return false;
}

function bindsOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

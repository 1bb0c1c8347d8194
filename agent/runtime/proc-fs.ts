/** Small /proc helpers for the process runtime (Linux). */
import { readFile } from 'node:fs/promises';

export interface ProcStat {
  state: string;
  pgrp: number;
  /** Field 22: start time in clock ticks since boot; stable for the life of the process. */
  starttime: string;
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const pgrp = Number(rest[2]);
  const starttime = rest[19];
  if (state === undefined || starttime === undefined) return undefined;
  return { state, pgrp, starttime };
}

/** True when `pid` is a live (not zombie) process and, if given, started at `starttime`. */
export async function isLive(pid: number, starttime?: string): Promise<boolean> {
  const st = await readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return starttime === undefined || st.starttime === starttime;
}

/** True while any member of process group `pgid` exists. */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** True when `pid` has a handler installed for signal number `signo` (SigCgt in /proc/<pid>/status). */
export async function catchesSignal(pid: number, signo: number): Promise<boolean> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const hex = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    return hex !== undefined && (BigInt(`0x${hex}`) & (1n << BigInt(signo - 1))) !== 0n;
  } catch {
    return false;
  }
}

/**
 * True when `pid` has a child that has exec'd its program: a forked child still shows its parent's
 * cmdline until exec, and a signal that reaches it before exec lands in the parent's handler and is lost.
 */
export async function hasExecedChild(pid: number): Promise<boolean> {
  let children: string[];
  try {
    children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean);
  } catch {
    return true; // no such file on this kernel: do not wait for it
  }
  if (children.length === 0) return false;
  try {
    const [own, child] = await Promise.all([readFile(`/proc/${pid}/cmdline`), readFile(`/proc/${children[0]}/cmdline`)]);
    return !own.equals(child);
  } catch {
    return false;
  }
}

/**
 * GPU fingerprint: runs `nvidia-smi -q -x` from PATH with a timeout and keeps the last good
 * reading. A hung nvidia-smi (common when a GPU falls off the bus) must never hang the agent, so
 * the call is raced against our own timer as well as execa's, and no second copy is started
 * while one is still stuck.
 */
import { execa } from 'execa';
import type { GpuInfo } from '../../shared/api-types.js';
import type { Logger } from '../../shared/logger.js';
import { silentLogger } from '../../shared/logger.js';
import { systemClock, type Clock } from '../../shared/time.js';
import { parseNvidiaSmiXml } from './nvidia-xml.js';

export type GpuProbeStatus = 'ok' | 'degraded' | 'no_gpu';

export interface GpuProbeResult {
  status: GpuProbeStatus;
  gpus: GpuInfo[];
  message?: string;
}

/** Runs a program and resolves with its stdout; rejects on failure. An error with code 'ENOENT' means "not installed". */
export type ExecFn = (file: string, args: string[], opts: { timeoutMs: number }) => Promise<string>;

export interface GpuProberOptions {
  exec?: ExecFn;
  timeoutMs?: number;
  logger?: Logger;
  clock?: Clock;
  /** Environment for the default exec (PATH decides which nvidia-smi runs). */
  env?: NodeJS.ProcessEnv;
}

export interface GpuProber {
  probe(): Promise<GpuProbeResult>;
  /** The last successful reading (empty before the first). */
  lastGood(): GpuInfo[];
}

export function defaultExec(env: NodeJS.ProcessEnv = process.env): ExecFn {
  return async (file, args, { timeoutMs }) => {
    const r = await execa(file, args, {
      env,
      extendEnv: false,
      timeout: timeoutMs,
      forceKillAfterDelay: 1000,
      stdin: 'ignore',
      maxBuffer: 16 * 1024 * 1024,
    });
    return r.stdout;
  };
}

export function createGpuProber(opts: GpuProberOptions = {}): GpuProber {
  const exec = opts.exec ?? defaultExec(opts.env);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  let last: GpuInfo[] = [];
  let lastAt: number | undefined;
  let everOk = false;
  let saidNoGpu = false;
  let stuck: Promise<unknown> | undefined;

  const degraded = (why: string): GpuProbeResult => {
    const age = lastAt === undefined ? 'no earlier reading' : `last good reading ${Math.round((clock.now() - lastAt) / 1000)} s old`;
    const message = `nvidia-smi ${why}; ${age}`;
    logger.warn({ why }, 'GPU probe degraded');
    return { status: 'degraded', gpus: last, message };
  };

  return {
    lastGood: () => last,
    async probe() {
      if (stuck) return degraded(`still hung from an earlier call (over ${timeoutMs} ms)`);
      let timer: NodeJS.Timeout | undefined;
      const run = exec('nvidia-smi', ['-q', '-x'], { timeoutMs });
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs + Math.min(1000, timeoutMs));
      });
      let out: string | 'timeout';
      try {
        out = await Promise.race([run, timedOut]);
      } catch (err) {
        const e = err as { code?: string; message?: string; shortMessage?: string; timedOut?: boolean };
        if (e.code === 'ENOENT' && !everOk) {
          if (!saidNoGpu) logger.info('nvidia-smi not found on PATH: this is a CPU-only worker');
          saidNoGpu = true;
          return { status: 'no_gpu', gpus: [] };
        }
        if (e.timedOut) return degraded(`timed out after ${timeoutMs} ms`);
        return degraded(`failed: ${firstLine(e.shortMessage ?? e.message ?? String(err))}`);
      } finally {
        clearTimeout(timer);
      }
      if (out === 'timeout') {
        stuck = run.catch(() => undefined).finally(() => (stuck = undefined));
        return degraded(`timed out after ${timeoutMs} ms`);
      }
      try {
        const gpus = parseNvidiaSmiXml(out);
        last = gpus;
        lastAt = clock.now();
        everOk = true;
        return { status: 'ok', gpus };
      } catch (err) {
        return degraded(`output unreadable: ${(err as Error).message}`);
      }
    },
  };
}

function firstLine(s: string): string {
  return (s.split('\n').find((l) => l.trim() !== '') ?? s).slice(0, 300);
}

/**
 * Readiness probe for a service task or sidecar: GET a URL until it answers. Any HTTP answer below
 * 500 counts as up (a Jupyter /api answers 200; another service may answer 404 on that path and
 * still be listening). Clock and fetch are parameters so tests need no real waiting.
 */
import type { Clock } from '../../shared/time.js';

export interface ProbeDeps {
  fetch: typeof fetch;
  clock: Clock;
  /** Resolves after ms (or at once when the signal aborts). */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export type ProbeResult = { ok: true; status: number } | { ok: false; reason: string };

/** One GET with a timeout; never throws. */
export async function probeOnce(url: string, fetchImpl: typeof fetch, timeoutMs = 2000): Promise<ProbeResult> {
  try {
    const r = await fetchImpl(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await r.body?.cancel().catch(() => undefined);
    return r.status < 500 ? { ok: true, status: r.status } : { ok: false, reason: `answered HTTP ${r.status}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { ok: false, reason: cause ?? (err instanceof Error ? err.message : String(err)) };
  }
}

/** Polls until the URL answers, the deadline passes or the signal aborts. */
export async function waitUntilUp(
  url: string,
  opts: { timeoutMs: number; intervalMs: number; signal?: AbortSignal },
  d: ProbeDeps,
): Promise<ProbeResult> {
  const deadline = d.clock.now() + opts.timeoutMs;
  let last: ProbeResult = { ok: false, reason: 'not probed' };
  for (;;) {
    if (opts.signal?.aborted) return { ok: false, reason: 'aborted' };
    last = await probeOnce(url, d.fetch);
    if (last.ok) return last;
    if (d.clock.now() >= deadline) return { ok: false, reason: `no answer from ${url} within ${Math.round(opts.timeoutMs / 1000)} s (${last.reason})` };
    await d.sleep(opts.intervalMs, opts.signal);
  }
}

export const realSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

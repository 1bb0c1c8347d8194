/**
 * How the HTTP routes reach the running scheduler (live workers, passes) without control/server.ts
 * having to pass it along: the gateway attaches itself to its ControlContext.
 */
import type { Worker } from '../../shared/api-types.js';
import type { ControlContext } from '../context.js';
import type { SchedWorker } from '../scheduler/types.js';
import type { SchedulerLoop } from './scheduler-loop.js';

export interface LiveScheduler {
  workers(): Worker[];
  worker(id: string): Worker | undefined;
  planWorkers(): SchedWorker[];
  scheduler: SchedulerLoop;
}

const links = new WeakMap<ControlContext, LiveScheduler>();

export function attachScheduler(ctx: ControlContext, s: LiveScheduler): void {
  links.set(ctx, s);
}
export function detachScheduler(ctx: ControlContext, s: LiveScheduler): void {
  if (links.get(ctx) === s) links.delete(ctx);
}
/** Undefined when control runs without an agent gateway (API-only tests). */
export function liveScheduler(ctx: ControlContext): LiveScheduler | undefined {
  return links.get(ctx);
}

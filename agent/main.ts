/** `fetchml agent`: probe the host, open the channel to control, run what it assigns. */
import { join } from 'node:path';
import { createLogger, type Logger } from '../shared/logger.js';
import { systemClock } from '../shared/time.js';
import { loadAgentConfig, type AgentOptions } from './config.js';
import { AgentDaemon, type GpuReading } from './daemon/agent.js';
import { createPreparer } from './daemon/prepare.js';
import { defaultSlots } from './daemon/slots.js';
import { AgentState } from './daemon/state.js';
import { entrypointArgv } from '../shared/entrypoint.js';
import { createGpuProber, probeHost } from './probe/index.js';
import { diskFreeGb, probeDisk } from './probe/disk.js';
import { createRuntime } from './runtime/index.js';

export interface RunningAgent {
  workerId: string;
  close(): Promise<void>;
}

export async function runAgent(opts: AgentOptions & { logger?: Logger }): Promise<RunningAgent> {
  const cfg = loadAgentConfig(opts);
  const logger = opts.logger ?? createLogger('fetchml-agent');
  const state = new AgentState(cfg.dataDir);
  const prober = createGpuProber({ logger });
  const [host, first, disk] = await Promise.all([probeHost(), prober.probe(), probeDisk(cfg.dataDir)]);
  const gpus: GpuReading = { status: first.status, gpus: first.gpus, ...(first.message ? { message: first.message } : {}) };
  const slots = defaultSlots(first.gpus.filter((g) => g.healthy).length, cfg.batchSlots, cfg.serviceSlots);
  const runtime = createRuntime(cfg.runtime, {
    process: cfg.launcher === 'none' ? {} : { launcherDir: join(cfg.dataDir, 'launcher'), launcher: cfg.launcher, launcherPython: cfg.launcherPython },
    container: { globalFlags: cfg.containerGlobalFlags, runFlags: cfg.containerRunFlags, defaultImage: cfg.defaultImage },
  });
  const daemon = new AgentDaemon({
    control: cfg.control,
    token: cfg.token,
    name: cfg.name,
    state,
    runtime,
    prepare: createPreparer(cfg, state.cacheDir, logger),
    argv: entrypointArgv,
    host,
    ...(disk ? { disk } : {}),
    diskFreeGb: () => diskFreeGb(cfg.dataDir),
    gpus,
    probeGpus: async () => {
      const r = await prober.probe();
      return { status: r.status, gpus: r.gpus, ...(r.message ? { message: r.message } : {}) };
    },
    slots,
    logger,
    clock: systemClock,
    stopGraceMs: cfg.stopGraceMs,
  });
  await daemon.start();
  logger.info({ worker: daemon.workerId, control: cfg.control, runtime: runtime.kind, gpus: gpus.gpus.length, ...slots }, 'fetchml agent started');
  process.stdout.write(`fetchml agent ${daemon.workerId} connecting to ${cfg.control}\n`);
  return { workerId: daemon.workerId, close: () => daemon.close() };
}

/** Picks the runtime the agent was told to use. */
import { ContainerRuntime, type ContainerRuntimeOptions } from './container.js';
import { ProcessRuntime, type ProcessRuntimeOptions } from './process.js';
import type { Runtime } from './types.js';

export { ContainerRuntime, buildRunArgs, containerName } from './container.js';
export type { ContainerRuntimeOptions } from './container.js';
export { ProcessRuntime, taskBaseEnv, exitResultFromStatus } from './process.js';
export type { ProcessRuntimeOptions } from './process.js';
export type * from './types.js';

export function createRuntime(
  kind: 'process' | 'docker' | 'podman',
  opts: { process?: ProcessRuntimeOptions; container?: Omit<ContainerRuntimeOptions, 'cli'> } = {},
): Runtime {
  return kind === 'process' ? new ProcessRuntime(opts.process) : new ContainerRuntime({ ...opts.container, cli: kind });
}

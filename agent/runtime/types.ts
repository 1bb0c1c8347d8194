/**
 * One contract for every way the agent runs an entrypoint (process, docker, podman), modelled on
 * Nomad's task drivers: start, wait, stop, and reattach from a persisted handle, so that a
 * restarted agent picks up running work instead of killing it.
 */

export interface GpuGrant {
  /** nvidia-smi indices (CUDA_VISIBLE_DEVICES in process mode). */
  indices: number[];
  /** GPU UUIDs (NVIDIA_VISIBLE_DEVICES / --gpus in containers). */
  uuids: string[];
}

export interface Mount {
  host: string;
  container: string;
  readonly: boolean;
}

/** A port a service listens on inside the task, made reachable at host:port on the agent's host. */
export interface PublishedPort {
  /** Host address to bind (the agent's FETCHML_SERVICE_BIND; 0.0.0.0 = every interface). */
  host: string;
  /** The same number on the host and inside the container. */
  port: number;
}

export interface StartSpec {
  task_id: string;
  epoch: number;
  /** argv[0] is the program; never run through a shell. */
  argv: string[];
  /** The task's workspace (extracted snapshot); cwd for processes, mounted at /workspace in containers. */
  workspace: string;
  env: Record<string, string>;
  image?: string;
  gpus: GpuGrant;
  cpu?: number;
  memory_gb?: number;
  mounts: Mount[];
  /** Combined stdout+stderr go here (the log shipper tails this file). */
  log_file: string;
  /** A directory the runtime may use for this task's files (exit code, pid). */
  run_dir: string;
  /** Container runtimes: ports to publish (service tasks). The process runtime already listens on the host. */
  publish?: PublishedPort[];
  /**
   * Container runtimes: 'host' shares the host's network (gangs: NCCL/Gloo ranks open ports at run
   * time and advertise their own address to the other nodes). Default: the engine's own network.
   */
  network?: 'host';
}

/** Persisted by the agent (JSON) so that reattach works after a restart. */
export interface RuntimeHandle {
  runtime: 'process' | 'docker' | 'podman';
  task_id: string;
  epoch: number;
  log_file: string;
  run_dir: string;
  started_at: string;
  pid?: number;
  /** Process runtime: start time of `pid` (/proc/<pid>/stat field 22), so a reused pid is not mistaken for ours. */
  proc_start?: string;
  container?: string;
}

export interface ExitResult {
  exit_code: number;
  /** Set when the entrypoint was killed by a signal (exit_code is then 128 + signal number). */
  signal?: string;
}

export interface Runtime {
  readonly kind: RuntimeHandle['runtime'];
  /** Throws TaskFailure('infrastructure', …) when the runtime itself fails (image pull, no engine). */
  start(spec: StartSpec): Promise<RuntimeHandle>;
  /** Resolves when the entrypoint exits, also for a handle obtained from reattach. */
  wait(handle: RuntimeHandle): Promise<ExitResult>;
  /** SIGTERM (or `docker stop`), then after graceMs SIGKILL of everything the task started. */
  stop(handle: RuntimeHandle, graceMs: number): Promise<void>;
  /** After an agent restart: is the work of this handle still there ('running'), finished ('exited', wait() gives the code) or gone ('lost')? */
  reattach(handle: RuntimeHandle): Promise<'running' | 'exited' | 'lost'>;
  /** Removes containers and runtime files once the result is collected. */
  cleanup(handle: RuntimeHandle): Promise<void>;
}

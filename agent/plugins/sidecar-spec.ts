/**
 * What a plugin's sidecar is: the command that serves it, where it answers, and what the task is
 * told about it. Pure, so the commands are tested without the tools. tensorboard and mlflow have
 * a local server; wandb's server is a licensed appliance, so wandb only works in remote mode.
 */
import type { PluginConfig } from '../../shared/api-types.js';
import type { BuiltinPlugin } from '../../shared/plugins.js';

export interface SidecarContext {
  task_id: string;
  /** The task's workspace on this host. */
  workspace: string;
  /** The workspace as the task sees it ('/workspace' in a container). */
  task_workspace: string;
  port: number;
  runtime: 'process' | 'docker' | 'podman';
}

export interface SidecarSpec {
  plugin: BuiltinPlugin;
  /** argv[0] is looked up on PATH; never run through a shell. */
  argv: string[];
  /** The tool whose absence makes the sidecar unhealthy (the engine, for containers). */
  tool: string;
  /** Where the task reaches it. */
  url: string;
  /** Health is GET url + health_path. */
  health_path: string;
  /** Variables the task gets (they override the remote-mode ones). */
  env: Record<string, string>;
  /** Container name to remove on stop (container sidecars only). */
  container?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function sidecarSpec(plugin: BuiltinPlugin, cfg: PluginConfig, c: SidecarContext): SidecarSpec | { unsupported: string } {
  const s = cfg.settings ?? {};
  const url = `http://127.0.0.1:${c.port}`;
  const inContainer = c.runtime !== 'process';
  if (inContainer && !str(cfg.image)) return { unsupported: `${plugin} sidecar: the ${c.runtime} runtime needs the plugin config's image` };
  // A container sidecar mounts the workspace where the task sees it, so the same paths work.
  const ws = inContainer ? c.task_workspace : c.workspace;
  let tool: string[];
  let env: Record<string, string>;
  let health: string;
  switch (plugin) {
    case 'tensorboard': {
      const logdir = str(s.log_dir) ?? `${ws}/tensorboard`;
      tool = ['tensorboard', '--logdir', logdir, '--host', '127.0.0.1', '--port', String(c.port)];
      env = { TENSORBOARD_LOGDIR: str(s.log_dir) ?? `${c.task_workspace}/tensorboard`, FETCHML_TENSORBOARD_URL: url };
      health = '/';
      break;
    }
    case 'mlflow': {
      const store = str(s.backend_store_uri) ?? `file://${ws}/mlruns`;
      tool = ['mlflow', 'server', '--host', '127.0.0.1', '--port', String(c.port), '--backend-store-uri', store];
      env = { MLFLOW_TRACKING_URI: url };
      health = '/health';
      break;
    }
    case 'wandb':
      return { unsupported: 'wandb has no sidecar mode; use mode remote with settings.base_url' };
  }
  if (!inContainer) return { plugin, argv: tool, tool: tool[0]!, url, health_path: health, env };
  const container = `fetchml-sidecar-${plugin}-${c.task_id}`.replace(/[^A-Za-z0-9_.-]/g, '-');
  // Host network: the sidecar listens on the host's loopback port like a process sidecar would.
  const argv = [c.runtime, 'run', '--rm', '--name', container, '--network', 'host', '-v', `${c.workspace}:${c.task_workspace}`, str(cfg.image)!, ...tool];
  return { plugin, argv, tool: c.runtime, url, health_path: health, env, container };
}

/**
 * Tracking plugins (contract: mlflow, tensorboard, wandb). A plugin applies to a task that names it
 * in `plugin_configs`; the cluster-wide config (PUT /v1/plugins/{name}/config) gives defaults and
 * the task's own entry overrides its settings. Remote mode hands the task the tools' own
 * environment variables, so user code needs no FetchML-specific setup.
 */
import type { PluginConfig } from './api-types.js';

export const BUILTIN_PLUGINS = ['mlflow', 'tensorboard', 'wandb'] as const;
export type BuiltinPlugin = (typeof BUILTIN_PLUGINS)[number];

export function isBuiltinPlugin(name: string): name is BuiltinPlugin {
  return (BUILTIN_PLUGINS as readonly string[]).includes(name);
}

/** QUIRKS: `enabled: false` and `mode: disabled` overlap; either one disables the plugin. */
export function pluginDisabled(cfg: PluginConfig | undefined): boolean {
  return !!cfg && (cfg.enabled === false || cfg.mode === 'disabled');
}

/** The cluster default merged with a task's entry (task settings win, key by key). */
export function mergePluginConfig(cluster: PluginConfig | undefined, task: PluginConfig | undefined): PluginConfig {
  return {
    ...cluster,
    ...task,
    enabled: !(pluginDisabled(cluster) || pluginDisabled(task)),
    mode: pluginDisabled(cluster) || pluginDisabled(task) ? 'disabled' : (task?.mode ?? cluster?.mode ?? 'remote'),
    settings: { ...cluster?.settings, ...task?.settings },
  };
}

/**
 * The configs an assignment carries: each plugin the task names, merged with the cluster's config
 * for it (`cluster(name)`, from PUT /v1/plugins/{name}/config). Plugins the task does not name do
 * not apply; unknown names are kept as given (the agent ignores them).
 */
export function mergeTaskPluginConfigs(
  task: Record<string, PluginConfig> | undefined,
  cluster: (name: string) => PluginConfig | undefined,
): Record<string, PluginConfig> | undefined {
  if (!task || typeof task !== 'object') return undefined;
  const out: Record<string, PluginConfig> = {};
  for (const [name, cfg] of Object.entries(task)) out[name] = isBuiltinPlugin(name) ? mergePluginConfig(cluster(name), cfg) : cfg;
  return out;
}

/** Plugins of a task that want a sidecar on the agent (enabled, mode sidecar). */
export function sidecarPlugins(configs: Record<string, PluginConfig> | undefined): Array<[BuiltinPlugin, PluginConfig]> {
  return Object.entries(configs ?? {}).filter((e): e is [BuiltinPlugin, PluginConfig] => isBuiltinPlugin(e[0]) && !pluginDisabled(e[1]) && e[1].mode === 'sidecar');
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The environment variables a task gets for its enabled plugins. `workspace` is the task's working
 * directory on the host (or in the container), used for tensorboard's default log dir.
 */
export function pluginEnvironment(
  configs: Record<string, PluginConfig> | undefined,
  ctx: { workspace: string; jobName: string; taskId: string },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, cfg] of Object.entries(configs ?? {})) {
    if (pluginDisabled(cfg)) continue;
    const s = cfg.settings ?? {};
    switch (name) {
      case 'mlflow': {
        const uri = str(s.tracking_uri);
        if (uri) env.MLFLOW_TRACKING_URI = uri;
        env.MLFLOW_EXPERIMENT_NAME = str(s.experiment_name) ?? ctx.jobName;
        env.MLFLOW_RUN_NAME = ctx.taskId;
        break;
      }
      case 'wandb': {
        const base = str(s.base_url);
        const key = str(s.api_key);
        if (base) env.WANDB_BASE_URL = base;
        if (key) env.WANDB_API_KEY = key;
        env.WANDB_PROJECT = str(s.project) ?? ctx.jobName;
        env.WANDB_RUN_ID = ctx.taskId;
        break;
      }
      case 'tensorboard':
        env.TENSORBOARD_LOGDIR = str(s.log_dir) ?? `${ctx.workspace}/tensorboard`;
        break;
      default:
        break;
    }
  }
  return env;
}

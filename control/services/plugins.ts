/** Plugins: the built-in mlflow, tensorboard and wandb, with a cluster-wide config each. */
import type { PluginConfig, PluginStatus, Task } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import { notFound } from '../../shared/errors.js';
import { BUILTIN_PLUGINS, isBuiltinPlugin, mergeTaskPluginConfigs, pluginDisabled } from '../../shared/plugins.js';
import { iso } from '../../shared/time.js';
import type { ControlContext } from '../context.js';
import { commitAndAnnounce } from './actor.js';

export interface PluginView {
  name: string;
  enabled: boolean;
  mode: 'sidecar' | 'remote' | 'disabled';
  status: PluginStatus;
  config: PluginConfig;
  requires_restart: boolean;
  version: string;
}

const DEFAULT_CONFIG: PluginConfig = { enabled: false, mode: 'disabled' };

/**
 * The plugin configs an assignment of `t` carries: each plugin the task names merged with the
 * cluster config (PUT /v1/plugins/{name}/config). A plugin never configured cluster-wide adds
 * nothing (its default only says "disabled", which must not switch off the task's own entry).
 */
export function assignedPluginConfigs(store: ControlContext['store'], t: Pick<Task, 'plugin_configs'>): Record<string, PluginConfig> | undefined {
  return mergeTaskPluginConfigs(t.plugin_configs, (name) => store.get('plugins', name)?.config);
}

/**
 * A sidecar plugin's health as the active tasks' agents report it: the worst of them (unhealthy,
 * then starting); healthy when all are (or none runs one).
 */
export function sidecarHealth(tasks: Iterable<Task>, name: string): PluginStatus['status'] {
  let worst: PluginStatus['status'] = 'healthy';
  for (const t of tasks) {
    if (isFinalStatus(t.status)) continue;
    const s = t.plugin_status?.[name]?.status;
    if (s === 'unhealthy') return 'unhealthy';
    if (s === 'starting') worst = 'starting';
  }
  return worst;
}

/** QUIRKS: PluginStatus has four values, HealthResponse three. */
export const healthOf = (s: PluginStatus['status']): 'healthy' | 'degraded' | 'unhealthy' =>
  s === 'healthy' ? 'healthy' : s === 'starting' ? 'degraded' : 'unhealthy';

export function createPluginService(ctx: ControlContext) {
  const config = (name: string): PluginConfig => {
    if (!isBuiltinPlugin(name)) throw notFound('Plugin');
    return ctx.store.get('plugins', name)?.config ?? DEFAULT_CONFIG;
  };
  const view = (name: string): PluginView => {
    const cfg = config(name);
    const off = pluginDisabled(cfg);
    // Remote: control runs nothing, so a configured plugin is healthy. Sidecar: what agents report.
    const live = off ? 'stopped' : cfg.mode === 'sidecar' ? sidecarHealth(ctx.store.values('tasks'), name) : 'healthy';
    const status: PluginStatus = { name, status: live, last_check: iso(ctx.clock.now()) };
    return {
      name,
      enabled: !off,
      mode: off ? 'disabled' : (cfg.mode ?? 'remote'),
      status,
      config: cfg,
      requires_restart: false,
      version: '1.0.0',
    };
  };
  const write = async (name: string, cfg: PluginConfig, user: string, action: string) => {
    await commitAndAnnounce(ctx.store, ctx.events, [{ op: 'put', coll: 'plugins', value: { id: name, config: cfg, updated_at: iso(ctx.clock.now()) } }], [
      { event_type: 'plugin_configured', user_id: user, resource: `plugin:${name}`, action, success: true, metadata: { enabled: !pluginDisabled(cfg), mode: cfg.mode ?? null } },
    ]);
  };
  return {
    list: () => BUILTIN_PLUGINS.map(view),
    get: view,
    config,
    health(name: string) {
      const v = view(name);
      return { status: healthOf(v.status.status), version: v.version, timestamp: iso(ctx.clock.now()) };
    },
    async configure(name: string, cfg: PluginConfig, user: string): Promise<PluginView> {
      config(name);
      await write(name, cfg, user, 'configure');
      return view(name);
    },
    async disable(name: string, user: string) {
      const cfg = config(name);
      await write(name, { ...cfg, enabled: false, mode: 'disabled' }, user, 'disable');
    },
  };
}

import type { PluginConfig } from '../../../shared/api-types.js';
import { body, params, userOf, type ApiDeps, type Handlers } from './types.js';

export function pluginRoutes({ plugins }: ApiDeps): Handlers {
  const disable = async (req: Parameters<Handlers[string]>[0], reply: Parameters<Handlers[string]>[1]) => {
    await plugins.disable(params<'pluginName'>(req).pluginName, userOf(req));
    return reply.code(204).send();
  };
  return {
    listPlugins: () => plugins.list(),
    getPlugin: (req) => plugins.get(params<'pluginName'>(req).pluginName),
    getPluginConfig: (req) => plugins.config(params<'pluginName'>(req).pluginName),
    updatePluginConfig: (req) => plugins.configure(params<'pluginName'>(req).pluginName, body<PluginConfig>(req), userOf(req)),
    disablePlugin: disable,
    deletePlugin: disable,
    getPluginHealth: (req) => plugins.health(params<'pluginName'>(req).pluginName),
  };
}

/** Builds control (fastify app, services, /ws, agent upgrades) without listening: tests use app.inject(). */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Worker } from '../shared/api-types.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { AGENT_CONNECT_PATH } from '../shared/protocol.js';
import { systemClock, type Clock } from '../shared/time.js';
import { createBlobStore } from './blobs/snapshots.js';
import { createLogStore } from './blobs/logs.js';
import type { ControlConfig } from './config.js';
import { ControlEvents, type ControlContext } from './context.js';
import { authHook, createAuthenticator } from './http/auth.js';
import { installErrorHandling } from './http/error-handler.js';
import { installValidators, registerSpecRoutes } from './http/router.js';
import { auditRoutes } from './http/routes/audit.js';
import { experimentRoutes } from './http/routes/experiments.js';
import { jupyterRoutes } from './http/routes/jupyter.js';
import { keyRoutes } from './http/routes/keys.js';
import { pluginRoutes } from './http/routes/plugins.js';
import { schedulerRoutes } from './http/routes/scheduler.js';
import { snapshotRoutes } from './http/routes/snapshots.js';
import { systemRoutes } from './http/routes/system.js';
import { taskRoutes } from './http/routes/tasks.js';
import type { ApiDeps } from './http/routes/types.js';
import { loadSpec, type LoadedSpec } from './http/spec.js';
import { createMetrics } from './metrics.js';
import { createExperimentService } from './services/experiments.js';
import { createJupyterService } from './services/jupyter.js';
import { createKeyService, type KeyService } from './services/keys.js';
import { createPluginService } from './services/plugins.js';
import { createTaskService } from './services/tasks.js';
import { liveScheduler } from './agents/live.js';
import { startArchiveSweeper, type ArchiveSweeper } from './store/archive-sweep.js';
import { openTaskArchive, type TaskArchive } from './store/task-archive.js';
import type { Store } from './store/types.js';
import { createClientWs, rejectUpgrade } from './ws/client-ws.js';

/** Contract with control/agents/gateway.ts (engineer F). */
export interface AgentGateway {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  workers(): Worker[];
  close(): Promise<void>;
}
// Edit by F: the gateway needs the agent token, which ControlContext does not carry.
export type AgentGatewayFactory = (ctx: ControlContext, opts?: { agentToken?: string }) => AgentGateway;

export interface CreateControlOptions {
  config: ControlConfig;
  store: Store;
  agentToken: string;
  logger?: Logger;
  clock?: Clock;
  /** Defaults to control/agents/gateway.ts when that file exists (see findAgentGateway). */
  agentGateway?: AgentGatewayFactory | null;
  spec?: LoadedSpec;
  /** Tasks per archive batch (control/store/archive-sweep.ts); default 1,000. */
  archiveBatchSize?: number;
}

export interface Control {
  app: FastifyInstance;
  ctx: ControlContext;
  keys: KeyService;
  gateway: AgentGateway | undefined;
  /** Finished tasks past FETCHML_TASK_RETENTION_DAYS, and the sweep that moves them there. */
  archive: TaskArchive;
  archiveSweeper: ArchiveSweeper;
  /** Listens on config.host/config.port; resolves to the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * HOOK (engineer F): the agent gateway lives in control/agents/gateway.ts, exporting
 * createAgentGateway(ctx). It is loaded when present so this file need not change when it lands.
 */
async function findAgentGateway(): Promise<AgentGatewayFactory | undefined> {
  const here = new URL('./agents/', import.meta.url);
  if (!existsSync(new URL('gateway.ts', here)) && !existsSync(new URL('gateway.js', here))) return undefined;
  const specifier = './agents/gateway.js';
  const mod = (await import(specifier)) as { createAgentGateway?: AgentGatewayFactory };
  return mod.createAgentGateway;
}

export async function createControl(opts: CreateControlOptions): Promise<Control> {
  const { config, store } = opts;
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const spec = opts.spec ?? loadSpec();
  const events = new ControlEvents();
  // Indexed even with retention 0, so tasks archived under an earlier setting stay reachable.
  const archive = await openTaskArchive({ dataDir: config.dataDir, logger });
  const ctx: ControlContext = {
    config,
    store,
    logger,
    clock,
    events,
    // aging: edit by J, so the API shows queued tasks' priority_aged as the planner computes it.
    tasks: createTaskService({
      store,
      events,
      clock,
      aging: { agingRatePerMinute: config.agingRatePerMinute, agingCap: config.agingCap },
      archive,
      // Every waiting task's reason from the latest pass (only the first ones are stored).
      pendingReason: (id) => liveScheduler(ctx)?.scheduler.pendingReason(id),
    }),
    logs: createLogStore(config.dataDir),
    snapshots: createBlobStore(config.dataDir),
  };
  const keys = createKeyService({ store, events, clock });
  const metrics = createMetrics(store);
  const deps: ApiDeps = {
    ctx,
    spec,
    keys,
    metrics,
    experiments: createExperimentService(ctx),
    plugins: createPluginService(ctx),
    jupyter: createJupyterService(ctx),
  };

  const app = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    // Every log line of a request carries its trace id (the one in X-Trace-Id and error bodies).
    logController: new LogController({ requestIdLogLabel: 'trace_id' }),
    bodyLimit: config.maxBodyBytes,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: true,
    ajv: { customOptions: { removeAdditional: false } },
  });
  installValidators(app);
  installErrorHandling(app);
  const auth = createAuthenticator(ctx, keys, opts.agentToken);
  app.addHook('onRequest', authHook(auth));
  app.addHook('onResponse', async (req, reply) => {
    metrics.observe(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
  await registerSpecRoutes(app, spec, {
    ...systemRoutes(deps),
    ...taskRoutes(deps),
    ...experimentRoutes(deps),
    ...jupyterRoutes(deps),
    ...pluginRoutes(deps),
    ...keyRoutes(deps),
    ...auditRoutes(deps),
    ...snapshotRoutes(deps),
    ...schedulerRoutes(deps),
  });

  const clientWs = createClientWs(ctx, auth, metrics);
  const gatewayFactory = opts.agentGateway === undefined ? await findAgentGateway() : (opts.agentGateway ?? undefined);
  const gateway = gatewayFactory ? gatewayFactory(ctx, { agentToken: opts.agentToken }) : undefined; // agentToken: edit by F
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ws') void clientWs.handleUpgrade(req, socket, head).catch(() => socket.destroy());
    else if (path === AGENT_CONNECT_PATH && gateway) gateway.handleUpgrade(req, socket, head);
    else rejectUpgrade(socket, 404, 'NOT_FOUND', `No WebSocket endpoint at ${String(path).slice(0, 200)}`);
  });
  await app.ready();
  // A pass now (not awaited: start-up does not wait for it) and then every interval.
  const archiveSweeper = startArchiveSweeper({
    store,
    archive,
    retentionDays: config.taskRetentionDays,
    clock,
    intervalMs: config.archiveSweepIntervalMs,
    logger,
    ...(opts.archiveBatchSize !== undefined ? { batchSize: opts.archiveBatchSize } : {}),
    onAudit: (chained) => {
      for (const e of chained) events.emit('audit', e);
    },
  });

  let closed = false;
  return {
    app,
    ctx,
    keys,
    gateway,
    archive,
    archiveSweeper,
    async listen() {
      await app.listen({ host: config.host, port: config.port });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    },
    async close() {
      if (closed) return;
      closed = true;
      await clientWs.close();
      await gateway?.close();
      await app.close();
      await archiveSweeper.stop();
      await archive.close();
    },
  };
}

/** A control app on the memory store with an admin key and user keys, for app.inject() tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig, type ControlConfig } from '../../../control/config.js';
import { createControl, type Control } from '../../../control/server.js';
import { createMemoryStore } from '../../../control/store/memory-store.js';
import type { Clock } from '../../../shared/time.js';

export interface Harness {
  control: Control;
  adminKey: string;
  agentToken: string;
  dataDir: string;
  /** A fresh user key for `user_id`. */
  userKey(user: string): Promise<string>;
  req(key: string | undefined, opts: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function harness(over: Partial<ControlConfig> = {}, clock?: Clock): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fetchml-http-'));
  const config = loadConfig({}, { dataDir, port: 0, rateLimitRps: 10_000, rateLimitBurst: 10_000, authFailBurst: 10_000, ...over });
  const store = createMemoryStore(clock ? { clock } : {});
  const agentToken = 'agent-secret-token';
  const control = await createControl({ config, store, agentToken, agentGateway: null, ...(clock ? { clock } : {}) });
  const adminKey = (await control.keys.bootstrapAdmin(undefined))!;
  return {
    control,
    adminKey,
    agentToken,
    dataDir,
    userKey: async (user) => (await control.keys.create(user, 'user')).key,
    req: (key, opts) => control.app.inject({ ...opts, headers: { ...(key ? { 'x-api-key': key } : {}), ...opts.headers } }),
    async close() {
      await control.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

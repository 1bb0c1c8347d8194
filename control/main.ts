/** `fetchml control`: open the journal store, bootstrap secrets, listen. */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '../shared/logger.js';
import { systemClock } from '../shared/time.js';
import { loadConfig } from './config.js';
import { createControl } from './server.js';
import { openJournalStore } from './store/journal-store.js';

export interface RunningControl {
  url: string;
  port: number;
  /** Only when this start created it. */
  adminKey?: string;
  agentToken: string;
  close(): Promise<void>;
}

/** The agent token: FETCHML_AGENT_TOKEN, else <data-dir>/agent-token (generated once, 0600). */
async function agentToken(dataDir: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (env.FETCHML_AGENT_TOKEN) return env.FETCHML_AGENT_TOKEN;
  const file = join(dataDir, 'agent-token');
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing?.trim()) return existing.trim();
  const token = `fat_${randomBytes(32).toString('base64url')}`;
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}

export async function runControl(opts: {
  host?: string;
  port?: number;
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  quiet?: boolean;
}): Promise<RunningControl> {
  const env = opts.env ?? process.env;
  const config = loadConfig(env, { host: opts.host, port: opts.port, dataDir: opts.dataDir });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logger = createLogger('control', opts.quiet ? 'warn' : (env.FETCHML_LOG_LEVEL ?? 'info'));
  const clock = systemClock;
  const store = await openJournalStore({ dataDir: config.dataDir, logger, clock, auditMemoryEvents: config.auditMemoryEvents });
  try {
    const token = await agentToken(config.dataDir, env);
    const control = await createControl({ config, store, logger, clock, agentToken: token });
    const adminKey = await control.keys.bootstrapAdmin(env.FETCHML_ADMIN_KEY || undefined);
    if (adminKey) {
      await writeFile(join(config.dataDir, 'admin-key'), `${adminKey}\n`, { mode: 0o600 });
    }
    const url = await control.listen();
    const port = Number(new URL(url).port);
    process.stdout.write(`fetchml control listening on ${url}\n`);
    if (adminKey) process.stdout.write(`admin API key (shown once, also in ${join(config.dataDir, 'admin-key')}): ${adminKey}\n`);
    return {
      url,
      port,
      ...(adminKey ? { adminKey } : {}),
      agentToken: token,
      async close() {
        await control.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

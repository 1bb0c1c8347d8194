/**
 * The daemon commands. control/main.ts and agent/main.ts are loaded by path at run time (typed
 * against the cross-team contract) so that the CLI does not pull them in for other commands.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentFlags } from '../commands/daemons.js';
import type { RunningControl } from '../../control/main.js';
import { reportError } from '../errors.js';

export type { RunningControl };
type ControlModule = typeof import('../../control/main.js');
type AgentModule = typeof import('../../agent/main.js');

// Loaded on demand (the paths are variables so bundlers and the type checker leave them lazy).
const CONTROL_MAIN = '../../control/main.js';
const AGENT_MAIN = '../../agent/main.js';

async function loadControl(): Promise<ControlModule> {
  return (await import(CONTROL_MAIN)) as ControlModule;
}
async function loadAgent(): Promise<AgentModule> {
  return (await import(AGENT_MAIN)) as AgentModule;
}

const CLOSE_DEADLINE_MS = 10_000;

/** SIGINT/SIGTERM close gracefully; a second signal, or 10 s without finishing, exits at once. */
export function closeOnSignals(close: () => Promise<void>): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(130);
    }
    closing = true;
    process.stderr.write(`${signal}: shutting down (send it again to exit at once)\n`);
    const timer = setTimeout(() => {
      process.stderr.write(`did not shut down within ${CLOSE_DEADLINE_MS / 1000} s: exiting\n`);
      process.exit(1);
    }, CLOSE_DEADLINE_MS);
    timer.unref();
    close().then(
      () => process.exit(0),
      (err) => process.exit(reportError(err)),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export async function controlCommand(opts: { host: string; port: number; dataDir?: string }): Promise<void> {
  const { runControl } = await loadControl();
  const control = await runControl({ host: opts.host, port: opts.port, dataDir: opts.dataDir, env: process.env });
  closeOnSignals(() => control.close());
}

export async function agentCommand(opts: AgentFlags): Promise<void> {
  const { runAgent } = await loadAgent();
  const agent = await runAgent({ ...opts, token: opts.token ?? process.env.FETCHML_AGENT_TOKEN });
  process.stdout.write(`fetchml agent connected to ${opts.control} as worker ${agent.workerId}\n`);
  closeOnSignals(() => agent.close());
}

/** The admin key dev mode uses: FETCHML_ADMIN_KEY, else one generated once and kept beside the data. */
async function devAdminKey(dataDir: string): Promise<string> {
  if (process.env.FETCHML_ADMIN_KEY) return process.env.FETCHML_ADMIN_KEY;
  const file = join(dataDir, 'admin-key');
  try {
    const key = (await readFile(file, 'utf8')).trim();
    if (key) return key;
  } catch {
    // first start: create it below
  }
  const key = `fml_${randomBytes(24).toString('hex')}`;
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

export async function devCommand(opts: { port: number; dataDir: string }): Promise<void> {
  await mkdir(opts.dataDir, { recursive: true });
  const adminKey = await devAdminKey(opts.dataDir);
  const [{ runControl }, { runAgent }] = await Promise.all([loadControl(), loadAgent()]);
  const control = await runControl({
    port: opts.port,
    dataDir: join(opts.dataDir, 'control'),
    env: { ...process.env, FETCHML_ADMIN_KEY: adminKey },
  });
  let agent: Awaited<ReturnType<AgentModule['runAgent']>>;
  try {
    agent = await runAgent({ control: control.url, token: control.agentToken, dataDir: join(opts.dataDir, 'agent'), runtime: 'process' });
  } catch (err) {
    await control.close();
    throw err;
  }
  process.stdout.write(
    `\nfetchml dev is ready\n  URL:       ${control.url}\n  admin key: ${adminKey}\n  worker:    ${agent.workerId}\n\n` +
      `  export FETCHML_URL=${control.url} FETCHML_API_KEY=${adminKey}\n`,
  );
  closeOnSignals(async () => {
    await agent.close();
    await control.close();
  });
}

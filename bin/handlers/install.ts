/**
 * Writes fetchml-agent.service and /etc/fetchml/agent.env, then `systemctl daemon-reload` and
 * `systemctl enable --now fetchml-agent`. The token lives only in the env file (mode 0600), never
 * on the unit's command line where `ps` and `systemctl status` would show it.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ActionContext } from '../commands/common.js';
import { UsageError } from '../errors.js';

interface InstallFlags {
  control: string;
  token?: string;
  runtime?: string;
  batchSlots?: number;
  serviceSlots?: number;
  name?: string;
  dataDir: string;
  unitDir: string;
  envDir: string;
  start: boolean;
  dryRun?: boolean;
}

/** Quotes a value for a systemd EnvironmentFile line. */
function envValue(v: string): string {
  if (/[\n\r]/.test(v)) throw new UsageError('values may not contain line breaks');
  return /^[A-Za-z0-9_./:@%+-]*$/.test(v) ? v : `"${v.replace(/(["\\$`])/g, '\\$1')}"`;
}

export function renderAgentEnv(f: InstallFlags, token: string): string {
  const args = [
    f.runtime ? `--runtime ${f.runtime}` : '',
    f.batchSlots !== undefined ? `--batch-slots ${f.batchSlots}` : '',
    f.serviceSlots !== undefined ? `--service-slots ${f.serviceSlots}` : '',
    f.name ? `--name ${f.name}` : '',
  ].filter(Boolean);
  return [
    '# Written by `fetchml install-agent`; read by fetchml-agent.service.',
    `FETCHML_CONTROL_URL=${envValue(f.control)}`,
    `FETCHML_AGENT_TOKEN=${envValue(token)}`,
    `FETCHML_AGENT_DATA_DIR=${envValue(f.dataDir)}`,
    `FETCHML_AGENT_ARGS=${envValue(args.join(' '))}`,
    '',
  ].join('\n');
}

export function renderAgentUnit(execStart: string, envFile: string): string {
  return `# Written by \`fetchml install-agent\`.
[Unit]
Description=FetchML agent (runs ML tasks for fetchml control)
After=network-online.target docker.service
Wants=network-online.target

[Service]
Type=simple
EnvironmentFile=${envFile}
ExecStart=${execStart} agent --control \${FETCHML_CONTROL_URL} --data-dir \${FETCHML_AGENT_DATA_DIR} $FETCHML_AGENT_ARGS
# Tasks run in their own process groups and are re-attached after a restart: a restart of the
# agent alone must not kill them.
KillMode=process
TimeoutStopSec=30
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}

export async function installAgentCommand(ctx: ActionContext): Promise<number> {
  const f = ctx.opts as unknown as InstallFlags;
  const token = f.token ?? process.env.FETCHML_AGENT_TOKEN;
  if (!token) throw new UsageError('no agent token: pass --token or set FETCHML_AGENT_TOKEN (control keeps it in <data-dir>/agent-token)');
  let url: URL;
  try {
    url = new URL(f.control);
  } catch {
    throw new UsageError(`--control must be a URL like http://control:9101, got "${f.control}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--control must be an http(s) URL');

  // The unit runs this very installation: node's absolute path and this script's.
  const script = resolve(fileURLToPath(new URL('../fetchml.js', import.meta.url)));
  const execStart = `${process.execPath} ${script}`;
  const unitPath = join(f.unitDir, 'fetchml-agent.service');
  const envPath = join(f.envDir, 'agent.env');
  const unit = renderAgentUnit(execStart, envPath);
  const env = renderAgentEnv(f, token);
  const commands = f.start ? [['daemon-reload'], ['enable', '--now', 'fetchml-agent.service']] : [];

  if (f.dryRun) {
    process.stdout.write(`# ${unitPath}\n${unit}\n# ${envPath} (mode 0600; token hidden)\n${env.replace(token, '<token>')}\n`);
    for (const c of commands) process.stdout.write(`systemctl ${c.join(' ')}\n`);
    return 0;
  }
  await mkdir(f.unitDir, { recursive: true });
  await mkdir(f.envDir, { recursive: true, mode: 0o755 });
  await writeAtomic(envPath, env, 0o600);
  await writeAtomic(unitPath, unit, 0o644);
  process.stdout.write(`wrote ${unitPath}\nwrote ${envPath} (mode 0600)\n`);
  const run = promisify(execFile);
  for (const c of commands) {
    try {
      await run('systemctl', c);
    } catch (err) {
      const msg = (err as { stderr?: string; message: string }).stderr?.trim() || (err as Error).message;
      process.stderr.write(`error: systemctl ${c.join(' ')} failed: ${msg}\nThe files are in place; fix the cause and run it again, or start the agent with \`systemctl enable --now fetchml-agent\`.\n`);
      return 1;
    }
  }
  if (f.start) process.stdout.write('fetchml-agent.service is enabled and started: `systemctl status fetchml-agent`, `journalctl -u fetchml-agent -f`\n');
  return 0;
}

/** Shared setup for the CLI integration tests: a real control (and agent) started with the CLI itself. */
import { join } from 'node:path';
import { execa } from 'execa';
import { fixturesDir, fetchmlCommand } from '../helpers/paths.js';
import { freePort, spawnFetchml, type Spawned } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FetchmlClient } from '../../shared/api-client.js';

export const ADMIN_KEY = 'cli-it-admin-key-0123456789abcdef';
export const AGENT_TOKEN = 'cli-it-agent-token-0123456789abcdef';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CliCluster {
  url: string;
  dir: string;
  client: FetchmlClient;
  control: Spawned;
  agent?: Spawned;
  /** Runs `fetchml ARGS…` as a real process with FETCHML_URL/FETCHML_API_KEY set. */
  cli(args: string[], opts?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  startAgent(): Promise<Spawned>;
  close(): Promise<void>;
}

export async function runFetchml(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const { command, args: pre } = fetchmlCommand();
  // `--import tsx` resolves from the cwd; the code folders these tests run in are outside the repo.
  const preArgs = pre.map((a) => (a === 'tsx' ? import.meta.resolve('tsx') : a));
  const r = await execa(command, [...preArgs, ...args], {
    cwd: opts.cwd,
    env: { FETCHML_LOG_LEVEL: 'warn', NO_COLOR: '1', ...opts.env },
    reject: false,
    timeout: opts.timeoutMs ?? 20_000,
    stdin: 'ignore',
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export async function startCliCluster(opts: { agent?: boolean } = {}): Promise<CliCluster> {
  const tmp = await tempDir('fetchml-cli-it-');
  const port = await freePort();
  const control = spawnFetchml(['control', '--port', String(port), '--data-dir', join(tmp.path, 'control')], {
    env: { FETCHML_ADMIN_KEY: ADMIN_KEY, FETCHML_AGENT_TOKEN: AGENT_TOKEN, FETCHML_RATE_LIMIT_RPS: '5000', FETCHML_RATE_LIMIT_BURST: '10000' },
  });
  const [, url] = (await control.waitForOutput(/listening on (http:\/\/\S+)/)) as unknown as [string, string];
  const client = new FetchmlClient({ url, apiKey: ADMIN_KEY });
  const cluster: CliCluster = {
    url,
    dir: tmp.path,
    client,
    control,
    cli: (args, o = {}) => runFetchml(args, { ...o, env: { FETCHML_URL: url, FETCHML_API_KEY: ADMIN_KEY, XDG_CONFIG_HOME: join(tmp.path, 'cfg'), ...o.env } }),
    async startAgent() {
      const agent = spawnFetchml(['agent', '--control', url, '--token', AGENT_TOKEN, '--data-dir', join(tmp.path, 'agent'), '--name', 'cli-it', '--runtime', 'process'], {
        env: { PATH: `${join(fixturesDir, 'bin-nvidia')}:${process.env.PATH}`, FAKE_NVIDIA_SMI_FIXTURE: '1gpu', FETCHML_STOP_GRACE_SECONDS: '2' },
      });
      cluster.agent = agent;
      await waitFor(async () => (await client.workers()).some((w) => w.status === 'active'), { what: 'the agent to register', timeoutMs: 20_000 });
      return agent;
    },
    async close() {
      await cluster.agent?.kill();
      await control.kill();
      await client.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
  if (opts.agent) await cluster.startAgent();
  return cluster;
}

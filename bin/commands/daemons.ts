/** `fetchml control`, `fetchml agent`, `fetchml dev`: the long-running processes. */
import type { Command } from 'commander';
import type { AgentOptions } from '../../agent/config.js';
import { choiceArg, intArg, portArg } from './parsers.js';

export function registerDaemonCommands(program: Command): void {
  program
    .command('control')
    .description('run the control plane (HTTP API, scheduler, store, audit chain)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = random)', portArg, 9101)
    .option('--data-dir <dir>', 'where the store, audit log and blobs live (default ./.fetchml/control or FETCHML_DATA_DIR)')
    .addHelpText('after', '\nExample:\n  $ FETCHML_ADMIN_KEY=secret fetchml control --port 9101 --data-dir /var/lib/fetchml')
    .action(async (opts: { host: string; port: number; dataDir?: string }) => {
      await (await import('../handlers/daemons.js')).controlCommand(opts);
    });

  agentHostOptions(program.command('agent'))
    .description('run the agent on a GPU host (one WebSocket to control)')
    .requiredOption('--control <url>', 'control URL, e.g. http://control:9101')
    .option('--token <token>', 'agent token shared with control (default FETCHML_AGENT_TOKEN)')
    .option('--data-dir <dir>', 'workspace, caches and state (default ./.fetchml/agent)')
    .option('--allow-private-sources', 'let dataset sources on loopback/private addresses through')
    .addHelpText('after', '\nExample:\n  $ fetchml agent --control http://control:9101 --token "$FETCHML_AGENT_TOKEN" --runtime podman')
    .action(async (opts: AgentFlags) => {
      await (await import('../handlers/daemons.js')).agentCommand(opts);
    });

  program
    .command('dev')
    .description('control and one local agent (process runtime) in one command')
    .option('--port <port>', 'control port (0 = random)', portArg, 9101)
    .option('--data-dir <dir>', 'data folder (control/ and agent/ under it)', './.fetchml')
    .addHelpText('after', '\nExample:\n  $ fetchml dev --port 9101   # prints the URL and the admin key')
    .action(async (opts: { port: number; dataDir: string }) => {
      await (await import('../handlers/daemons.js')).devCommand(opts);
    });
}

/** How an agent runs on its host: the flags `agent` and `install-agent` share. */
export function agentHostOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'worker name (default the host name)')
    .option('--runtime <runtime>', 'process | docker | podman', choiceArg(['process', 'docker', 'podman'] as const))
    .option('--batch-slots <n>', 'batch (training) slots', intArg(0, 1024))
    .option('--service-slots <n>', 'service (Jupyter) slots', intArg(0, 1024));
}

/** The agent's flags are exactly its options (a type-only import: nothing of the agent loads here). */
export type AgentFlags = AgentOptions;

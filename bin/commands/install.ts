/** `fetchml install-agent`: sysadmins install the agent as a systemd service on a GPU host. */
import type { Command } from 'commander';
import { lazy } from './common.js';
import { agentHostOptions } from './daemons.js';

export function registerInstallCommands(program: Command): void {
  agentHostOptions(program.command('install-agent'))
    .description('install and start the agent as a systemd service (fetchml-agent.service)')
    .requiredOption('--control <url>', 'control URL the agent connects to')
    .option('--token <token>', 'agent token (default FETCHML_AGENT_TOKEN); stored in the env file, mode 0600')
    .option('--data-dir <dir>', 'agent state, workspaces and caches', '/var/lib/fetchml/agent')
    .option('--unit-dir <dir>', 'where the unit file goes', '/etc/systemd/system')
    .option('--env-dir <dir>', 'where agent.env goes', '/etc/fetchml')
    .option('--no-start', 'write the files but do not run systemctl')
    .option('--dry-run', 'print what would be written and run, change nothing')
    .option('--debug', 'print stack traces of errors')
    .addHelpText(
      'after',
      '\nExample:\n  $ sudo fetchml install-agent --control http://control:9101 --token "$(cat agent-token)" --runtime docker',
    )
    .action(lazy(() => import('../handlers/install.js'), (m) => m.installAgentCommand));
}

/** Administrator commands: audit chain, API keys, plugins. */
import type { Command } from 'commander';
import { AUDIT_EVENT_TYPES } from '../../shared/api-types.js';
import { clientOptions, lazy } from './common.js';
import { choiceArg, intArg } from './parsers.js';

const load = () => import('../handlers/admin.js');

export function registerAdminCommands(program: Command): void {
  const audit = program.command('audit').description('the audit chain');
  audit.addHelpText('after', '\nExamples:\n  $ fetchml audit events --type job_queued --limit 20\n  $ fetchml audit verify');
  clientOptions(
    audit
      .command('events')
      .description('query audit events')
      .option('--type <type>', 'event type', choiceArg(AUDIT_EVENT_TYPES))
      .option('--user <user>', 'user id')
      .option('--from <time>', 'ISO time')
      .option('--to <time>', 'ISO time')
      .option('--limit <n>', 'at most this many', intArg(1, 1000), 100)
      .option('--offset <n>', 'skip this many', intArg(0), 0)
      .action(lazy(load, (m) => m.auditEventsCommand)),
  );
  clientOptions(audit.command('verify').description('verify the whole chain (exit 1 if tampered)').action(lazy(load, (m) => m.auditVerifyCommand)));
  clientOptions(audit.command('root').description('current chain root hash').action(lazy(load, (m) => m.auditRootCommand)));

  const keys = program.command('keys').description('API keys (admin)');
  keys.addHelpText('after', '\nExample:\n  $ fetchml keys create --user alice --role user');
  clientOptions(
    keys
      .command('create')
      .description('create a key (printed once)')
      .requiredOption('--user <user>', 'user id')
      .option('--role <role>', 'admin | user', choiceArg(['admin', 'user'] as const), 'user')
      .action(lazy(load, (m) => m.keysCreateCommand)),
  );
  clientOptions(keys.command('list').description('list keys (without secrets)').action(lazy(load, (m) => m.keysListCommand)));
  clientOptions(keys.command('revoke').description('revoke a key').argument('<id>', 'key id').action(lazy(load, (m) => m.keysRevokeCommand)));

  const plugins = program.command('plugins').description('plugins (mlflow, tensorboard, wandb)');
  plugins.addHelpText('after', '\nExample:\n  $ fetchml plugins set mlflow --mode remote --setting tracking_uri=http://mlflow:5000');
  clientOptions(plugins.command('list').description('list plugins').action(lazy(load, (m) => m.pluginsListCommand)));
  clientOptions(plugins.command('get').description('show a plugin').argument('<name>').action(lazy(load, (m) => m.pluginsGetCommand)));
  clientOptions(
    plugins
      .command('set')
      .description("set a plugin's configuration")
      .argument('<name>')
      .option('--mode <mode>', 'sidecar | remote | disabled', choiceArg(['sidecar', 'remote', 'disabled'] as const))
      .option('--image <image>', 'sidecar image')
      .option('--setting <key=value>', 'a setting (repeatable)', (v: string, p: string[] | undefined) => [...(p ?? []), v])
      .action(lazy(load, (m) => m.pluginsSetCommand)),
  );
  clientOptions(plugins.command('disable').description('disable a plugin').argument('<name>').action(lazy(load, (m) => m.pluginsDisableCommand)));
}

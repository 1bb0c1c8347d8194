/** `fetchml login`, `fetchml completion`. */
import type { Command } from 'commander';
import { lazy } from './common.js';
import { choiceArg } from './parsers.js';

const load = () => import('../handlers/misc.js');

export function registerMiscCommands(program: Command): void {
  program
    .command('login')
    .description('store the control URL and API key in the profile (mode 0600)')
    .requiredOption('--url <url>', 'control URL')
    .requiredOption('--key <key>', 'API key')
    .option('--no-check', 'do not check the key against control first')
    .option('--debug', 'print stack traces of errors')
    .addHelpText('after', '\nExample:\n  $ fetchml login --url https://control.example:9101 --key fml_...')
    .action(lazy(load, (m) => m.loginCommand));
  program
    .command('completion')
    .description('print a shell completion script')
    .argument('<shell>', 'bash | zsh', choiceArg(['bash', 'zsh'] as const))
    .addHelpText('after', '\nExample:\n  $ fetchml completion bash >> ~/.bashrc')
    .action(lazy(load, (m) => m.completionCommand));
}

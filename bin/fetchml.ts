#!/usr/bin/env node
/**
 * The `fetchml` executable. Only commander and the small command-definition files load at start;
 * every command's implementation (undici, tar, control, agent) is imported inside its action, so
 * `fetchml --version` and `--help` stay cheap.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerDaemonCommands } from './commands/daemons.js';
import { registerTaskCommands } from './commands/tasks.js';
import { registerRunCommands } from './commands/run.js';
import { registerOperatorCommands } from './commands/operators.js';
import { registerAdminCommands } from './commands/admin.js';
import { registerMiscCommands } from './commands/misc.js';
import { registerInstallCommands } from './commands/install.js';
import { reportError } from './errors.js';

function packageVersion(): string {
  // bin/fetchml.ts → ../package.json; dist/bin/fetchml.js → ../../package.json
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'fetchml' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
}

export function buildProgram(): Command {
  const program = new Command('fetchml')
    .description('Run ML work on a fleet of GPU hosts: control plane, agent and CLI.')
    .version(packageVersion(), '-V, --version')
    .showSuggestionAfterError()
    .enablePositionalOptions()
    .exitOverride();
  program.addHelpText('after', '\nExample:\n  $ fetchml dev                 # control + one local agent\n  $ fetchml run python train.py --gpus 1');
  registerDaemonCommands(program);
  registerRunCommands(program);
  registerTaskCommands(program);
  registerOperatorCommands(program);
  registerAdminCommands(program);
  registerMiscCommands(program);
  registerInstallCommands(program);
  // Every subcommand exits through the same override so usage errors become exit code 2.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    for (const c of cmd.commands) override(c);
  };
  override(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  // `fetchml tasks | head` closes the pipe early: that is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help/version exit 0; every other commander error is a usage error (its message is already printed)
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.exitCode = reportError(err);
  }
}

await main(process.argv);
